"""Evaluation metrics: top-k accuracy, mAP, confusion matrices, and multi-view aggregation.

Video-level evaluation follows PySlowFast's multi-view test: every video is
sampled as several views (temporal clips x spatial crops), each view is
scored on some worker, and a video's prediction combines its views' scores.
:class:`VideoScoreTable` holds per-video sums indexed by the dataset's video
index, so the combination does not depend on which worker saw which view or
in what order; :meth:`VideoScoreTable.all_reduce` sums the workers' tables, and
the result reports videos seen fewer or more times than expected instead of
silently scoring an incomplete or duplicated evaluation.

All accuracies are fractions in [0, 1]. Ties between scores are broken
deterministically: top-k ranks the lower class index first (as ``argmax``
does), and average precision treats tied scores as one threshold (as
scikit-learn's ``average_precision_score`` does). A NaN score ranks last.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.distributed as dist
from PIL import Image, ImageDraw, ImageFont

from vidray.errors import DataError, LayoutError

logger = logging.getLogger(__name__)


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)) -> dict[int, int]:
    """``{k: number of samples whose label is among their k highest scores}`` for ``[N, K]``
    scores and ``[N]`` class indices; ``k`` is clipped to ``K`` (top-5 of 3 classes is top-3).

    A sample's rank counts the classes scored higher than its label, plus the
    tied ones with a lower index; a sample with a NaN score is never correct.
    """
    _check_scores(logits, "topk_correct")
    num_classes = logits.shape[1]
    labels = _check_class_indices(labels, logits.shape[0], num_classes, "topk_correct").to(logits.device)
    if any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise LayoutError(f"topk_correct: ks must be positive integers, got {tuple(ks)}")
    true = logits.gather(1, labels[:, None])
    lower_index = torch.arange(num_classes, device=logits.device) < labels[:, None]
    rank = (logits > true).sum(1) + ((logits == true) & lower_index).sum(1)
    valid = ~logits.isnan().any(1)
    return {k: int(((rank < min(k, num_classes)) & valid).sum()) for k in ks}


def average_precision(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Average precision of each class, ``[K]`` float64, from ``[N, K]`` scores and 0/1 targets.

    ``AP = sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds
    (scikit-learn's definition, PySlowFast's Charades mAP): samples with tied
    scores enter together, so the result does not depend on their order.
    A class without positives has AP NaN.
    """
    _check_scores(scores, "average_precision")
    positives = _check_multi_hot(targets, tuple(scores.shape), "average_precision").to(scores.device)
    num_samples = scores.shape[0]
    if num_samples == 0:
        return torch.full((scores.shape[1],), math.nan, dtype=torch.float64)
    scores = scores.detach().double().nan_to_num(nan=-math.inf)
    sorted_scores, order = torch.sort(scores, dim=0, descending=True, stable=True)
    hits = positives.double().gather(0, order)
    position = torch.arange(num_samples, device=scores.device)[:, None]
    precision = hits.cumsum(0) / (position + 1)
    # each sample takes the precision at the last sample of its tie group (one threshold per distinct score)
    group_end = torch.ones_like(sorted_scores, dtype=torch.bool)
    group_end[:-1] = sorted_scores[:-1] != sorted_scores[1:]
    end_index = torch.where(group_end, position, num_samples)
    end_index = end_index.flip(0).cummin(0).values.flip(0)
    ap = (hits * precision.gather(0, end_index)).sum(0) / hits.sum(0)
    return ap.cpu()


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """The mean of :func:`average_precision` over classes with at least one positive
    (the Charades convention); NaN when no class has one."""
    return _mean_over_counted(average_precision(scores, targets))


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[K, K]`` int64 counts; row = true class, column = predicted class."""
    labels = _check_class_indices(labels, None, num_classes, "confusion_matrix labels")
    preds = _check_class_indices(preds, labels.shape[0], num_classes, "confusion_matrix preds")
    flat = labels.cpu() * num_classes + preds.cpu()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def per_class_accuracy(matrix: torch.Tensor) -> torch.Tensor:
    """Each class's recall (diagonal / row sum), ``[K]`` float64; NaN for classes without samples."""
    _check_confusion_matrix(matrix, "per_class_accuracy")
    matrix = matrix.double()
    return matrix.diagonal() / matrix.sum(1)


@dataclass(frozen=True)
class EvaluationResult:
    """Video-level metrics of one evaluation, and how complete it was.

    The metrics cover the ``num_videos_evaluated`` videos with at least one
    view; videos never seen (e.g. unreadable) are reported in ``missing_views``,
    not scored as wrong. Single-label evaluations set ``top1``, ``top5``,
    ``clip_top1``, ``per_class_accuracy`` and ``confusion_matrix``; multi-label
    ones ``mAP`` and ``per_class_ap``; a metric over no videos is NaN.
    """

    num_videos: int
    num_videos_evaluated: int
    num_clips: int
    missing_views: int  # videos seen fewer times than expected (never seen included)
    duplicate_views: int  # videos seen more times than expected
    top1: float | None = None
    top5: float | None = None
    clip_top1: float | None = None  # each view scored on its own
    mAP: float | None = None
    per_class_ap: torch.Tensor | None = field(default=None, repr=False)
    per_class_accuracy: torch.Tensor | None = field(default=None, repr=False)
    confusion_matrix: torch.Tensor | None = field(default=None, repr=False)
    class_names: tuple[str, ...] | None = field(default=None, repr=False)

    @property
    def complete(self) -> bool:
        """Every video was seen exactly as often as expected."""
        return self.missing_views == 0 and self.duplicate_views == 0

    def metrics(self) -> dict[str, float]:
        """The scalar metrics and counts that are set, e.g. for ``mlflow.log_metrics``."""
        names = (
            "top1",
            "top5",
            "clip_top1",
            "mAP",
            "num_videos_evaluated",
            "num_clips",
            "missing_views",
            "duplicate_views",
        )
        return {name: float(getattr(self, name)) for name in names if getattr(self, name) is not None}


class VideoScoreTable:
    """Combines the views of each video into one prediction, across distributed workers.

    Unlike :class:`vidray.transforms.multiview.ViewAggregator` (sparse, any video ids,
    merged by gathering objects), this keeps dense per-video tables of a known
    evaluation set, so :meth:`all_reduce` is one collective, and it also holds
    labels and view counts to score the evaluation and prove it complete.

    Single-label: a video's score is the mean of its views' softmax
    probabilities (PySlowFast's default ``ENSEMBLE_METHOD: sum``). Multi-label:
    the maximum of its views' sigmoid probabilities, per class (PySlowFast's
    Charades configs, ``ENSEMBLE_METHOD: max``), since an action seen in any
    view is present in the video.

    Args:
        num_videos: videos in the evaluated dataset; ``add`` takes indices in ``[0, num_videos)``.
        num_classes: classes the logits score.
        expected_views: views per video (one number, or one per video); ``None``
            checks only that every video was seen at least once.
        multi_label: labels are ``[B, K]`` 0/1 rows instead of ``[B]`` indices.
    """

    def __init__(
        self,
        num_videos: int,
        num_classes: int,
        expected_views: int | Sequence[int] | None,
        multi_label: bool = False,
    ) -> None:
        if isinstance(num_videos, bool) or not isinstance(num_videos, int) or num_videos < 0:
            raise LayoutError(f"VideoScoreTable: num_videos must be a non-negative integer, got {num_videos!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise LayoutError(f"VideoScoreTable: num_classes must be a positive integer, got {num_classes!r}")
        self.num_videos = num_videos
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.expected_views = self._expected(expected_views)
        self.scores = torch.zeros(num_videos, num_classes, dtype=torch.float64)
        self.views = torch.zeros(num_videos, dtype=torch.int64)
        # the smallest and largest label each video's views carried: equal iff the views agree
        label_shape = (num_videos, num_classes) if multi_label else (num_videos,)
        label_dtype = torch.uint8 if multi_label else torch.int64
        self.label_min = torch.full(label_shape, 1 if multi_label else num_classes, dtype=label_dtype)
        self.label_max = torch.full(label_shape, 0 if multi_label else -1, dtype=label_dtype)
        self.clip_top1_correct = torch.zeros(1, dtype=torch.int64)
        self._reduced = False

    def add(self, video_index: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Adds a batch of views: ``[B]`` video indices, ``[B, K]`` logits, and ``[B]``
        class indices (``[B, K]`` 0/1 rows for multi-label)."""
        if self._reduced:
            raise RuntimeError("VideoScoreTable.add after all_reduce: the totals are already combined")
        _check_scores(logits, "VideoScoreTable.add logits")
        batch, num_classes = logits.shape
        if num_classes != self.num_classes:
            raise LayoutError(f"VideoScoreTable.add: expected logits [B, {self.num_classes}], got {_describe(logits)}")
        index = _check_class_indices(video_index, batch, self.num_videos, "VideoScoreTable.add video_index").cpu()
        logits = logits.detach().float()
        if self.multi_label:
            targets = _check_multi_hot(labels, (batch, num_classes), "VideoScoreTable.add labels").to(torch.uint8)
            rows = index[:, None].expand(-1, num_classes)
            self.scores.scatter_reduce_(0, rows, logits.sigmoid().double().cpu(), reduce="amax")
        else:
            targets = _check_class_indices(labels, batch, num_classes, "VideoScoreTable.add labels")
            rows = index
            self.scores.index_add_(0, index, logits.softmax(1).double().cpu())
            self.clip_top1_correct += topk_correct(logits, targets, (1,))[1]
        targets = targets.cpu()
        self.label_min.scatter_reduce_(0, rows, targets, reduce="amin")
        self.label_max.scatter_reduce_(0, rows, targets, reduce="amax")
        self.views.index_add_(0, index, torch.ones_like(index))

    def all_reduce(self, group: Any = None) -> None:
        """Combines every rank's views so each rank holds the totals (a no-op without
        ``torch.distributed``). Every rank of ``group`` must call it, once, after its last ``add``."""
        if self._reduced:
            raise RuntimeError("VideoScoreTable.all_reduce called twice: views would be counted again")
        self._reduced = True
        if not (dist.is_available() and dist.is_initialized()):
            return
        device = torch.device("cpu")
        if dist.get_backend(group) == "nccl":  # NCCL reduces CUDA tensors only
            device = torch.device("cuda", torch.cuda.current_device())
        reductions = [
            (self.scores, dist.ReduceOp.MAX if self.multi_label else dist.ReduceOp.SUM),
            (self.views, dist.ReduceOp.SUM),
            (self.label_min, dist.ReduceOp.MIN),
            (self.label_max, dist.ReduceOp.MAX),
            (self.clip_top1_correct, dist.ReduceOp.SUM),
        ]
        for tensor, op in reductions:
            buffer = tensor.to(device)
            dist.all_reduce(buffer, op=op, group=group)
            tensor.copy_(buffer)

    def result(self, class_names: Sequence[str] | None = None) -> EvaluationResult:
        """The video-level metrics over the videos seen, and the completeness counts.

        Single-label: raises :class:`DataError` when views of one video carried
        different labels. Multi-label: a video's target is the union of its
        views' targets (Charades' per-clip targets differ between views; the
        video holds every action any view holds, as in PySlowFast).
        """
        if not self._reduced and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            raise RuntimeError("VideoScoreTable.result before all_reduce: this rank holds only its own views")
        if class_names is not None and len(class_names) != self.num_classes:
            raise LayoutError(f"VideoScoreTable.result: {len(class_names)} class names for {self.num_classes} classes")
        seen = self.views > 0
        missing, duplicate = self._completeness()
        conflicts = seen & (self.label_min != self.label_max).reshape(self.num_videos, -1).any(1)
        if conflicts.any() and not self.multi_label:
            videos = conflicts.nonzero().flatten()
            raise DataError(
                f"views of {len(videos)} video(s) carry different labels (video indices {videos[:10].tolist()}); "
                "every view of a video must have the video's label"
            )
        scores = self.scores[seen]
        if not self.multi_label:
            scores = scores / self.views[seen, None]
        labels = (self.label_max if self.multi_label else self.label_min)[seen]
        evaluated, clips = int(seen.sum()), int(self.views.sum())
        common = dict(
            num_videos=self.num_videos,
            num_videos_evaluated=evaluated,
            num_clips=clips,
            missing_views=missing,
            duplicate_views=duplicate,
            class_names=tuple(class_names) if class_names is not None else None,
        )
        if self.multi_label:
            ap = average_precision(scores, labels)
            return EvaluationResult(**common, mAP=_mean_over_counted(ap), per_class_ap=ap)
        correct = topk_correct(scores, labels, (1, 5))
        matrix = confusion_matrix(scores.argmax(1), labels, self.num_classes)
        return EvaluationResult(
            **common,
            top1=correct[1] / evaluated if evaluated else math.nan,
            top5=correct[5] / evaluated if evaluated else math.nan,
            clip_top1=int(self.clip_top1_correct) / clips if clips else math.nan,
            per_class_accuracy=per_class_accuracy(matrix),
            confusion_matrix=matrix,
        )

    def _completeness(self) -> tuple[int, int]:
        """(videos seen fewer times than expected, videos seen more), logged when not zero."""
        expected = self.expected_views if self.expected_views is not None else torch.ones_like(self.views)
        fewer = self.views < expected
        more = (self.views > expected) if self.expected_views is not None else torch.zeros_like(fewer)
        for mask, what in ((fewer, "fewer"), (more, "more")):
            if mask.any():
                videos = mask.nonzero().flatten()
                logger.warning(
                    "%d of %d videos were evaluated with %s views than expected (video indices %s%s)",
                    len(videos),
                    self.num_videos,
                    what,
                    videos[:10].tolist(),
                    ", ..." if len(videos) > 10 else "",
                )
        return int(fewer.sum()), int(more.sum())

    def _expected(self, expected_views: int | Sequence[int] | None) -> torch.Tensor | None:
        if expected_views is None:
            return None
        if isinstance(expected_views, int) and not isinstance(expected_views, bool):
            expected = torch.full((self.num_videos,), expected_views, dtype=torch.int64)
        else:
            expected = torch.as_tensor(list(expected_views), dtype=torch.int64)
        if expected.shape != (self.num_videos,) or (expected < 1).any():
            raise LayoutError(
                f"VideoScoreTable: expected_views must be a positive integer or one per video "
                f"({self.num_videos}), got {_describe(expected)}"
            )
        return expected


def confusion_matrix_png(matrix: torch.Tensor, class_names: Sequence[str] | None = None) -> bytes:
    """A PNG heatmap of a confusion matrix (rows: true class, columns: predicted).

    Colour is the square root of the row-normalised fraction: rare classes read
    as clearly as common ones, and small confusions stay visible. Up to 50
    classes the cells show their counts and the axes the class names (cut to
    24 characters); beyond that, the heatmap alone, about 800 pixels across.
    """
    _check_confusion_matrix(matrix, "confusion_matrix_png")
    num_classes = matrix.shape[0]
    if class_names is not None and len(class_names) != num_classes:
        raise LayoutError(f"confusion_matrix_png: {len(class_names)} class names for {num_classes} classes")
    names = [_short(str(n)) for n in class_names] if class_names is not None else [str(i) for i in range(num_classes)]
    counts = matrix.detach().cpu().long()
    shade = (counts.double() / counts.sum(1, keepdim=True).clamp_min(1)).sqrt()
    labelled = num_classes <= 50
    cell = 36 if num_classes <= 20 else 26 if labelled else max(1, 800 // num_classes)
    font = ImageFont.load_default(size=11)
    title_font = ImageFont.load_default(size=14)

    # white to dark blue, one RGB pixel per cell, scaled up without smoothing
    light, dark = torch.tensor([255.0, 255.0, 255.0]), torch.tensor([8.0, 48.0, 107.0])
    rgb = (light + (dark - light) * shade.float()[..., None]).round().to(torch.uint8)
    heatmap = Image.frombytes("RGB", (num_classes, num_classes), rgb.numpy().tobytes())
    side = cell * num_classes
    heatmap = heatmap.resize((side, side), Image.Resampling.NEAREST)

    pad = 8
    title = "confusion matrix (rows: true class, columns: predicted)"
    title_height = _text_size(title, title_font)[1] + 2 * pad
    left = top = pad
    if labelled:
        label_width = max(_text_size(n, font)[0] for n in names) + pad
        left, top = label_width + pad, label_width + pad
    width = max(left + side + pad, _text_size(title, title_font)[0] + 2 * pad)
    image = Image.new("RGB", (width, title_height + top + side + pad), "white")
    draw = ImageDraw.Draw(image)
    draw.text((pad, pad), title, fill="black", font=title_font)
    origin = (left, title_height + top)
    image.paste(heatmap, origin)
    draw.rectangle((origin[0] - 1, origin[1] - 1, origin[0] + side, origin[1] + side), outline="gray")
    if labelled:
        for i, name in enumerate(names):
            middle = i * cell + cell // 2
            name_width, name_height = _text_size(name, font)
            draw.text(
                (origin[0] - pad - name_width, origin[1] + middle - name_height // 2), name, fill="black", font=font
            )
            # column names run upwards, drawn on their own strip and rotated
            strip = Image.new("RGB", (name_width + 2, name_height + 4), "white")
            ImageDraw.Draw(strip).text((0, 0), name, fill="black", font=font)
            strip = strip.rotate(90, expand=True)
            image.paste(strip, (origin[0] + middle - strip.width // 2, origin[1] - pad - strip.height))
            for j in range(num_classes):
                text = _count_text(int(counts[i, j]))
                text_width, text_height = _text_size(text, font)
                x = origin[0] + j * cell + (cell - text_width) // 2
                y = origin[1] + i * cell + (cell - text_height) // 2
                draw.text((x, y), text, fill="white" if shade[i, j] > 0.5 else "black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _describe(x: object) -> str:
    """``tensor [16, 400] float32`` for error messages (as ``vidray.transforms.base.describe``,
    without importing the transforms and torchvision)."""
    if isinstance(x, torch.Tensor):
        return f"tensor {list(x.shape)} {str(x.dtype).replace('torch.', '')}"
    return type(x).__name__


def _mean_over_counted(ap: torch.Tensor) -> float:
    counted = ap[~ap.isnan()]
    return float(counted.mean()) if counted.numel() else math.nan


def _text_size(text: str, font: Any) -> tuple[int, int]:
    x0, y0, x1, y1 = font.getbbox(text)
    return int(x1), int(y1)


def _count_text(count: int) -> str:
    """Counts that fit a cell: 987, 1.2k, 12k, 3.4M."""
    if count < 1000:
        return str(count)
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if count >= scale:
            value = count / scale
            return f"{value:.1f}{suffix}" if value < 10 else f"{value:.0f}{suffix}"
    return str(count)


def _short(name: str, limit: int = 24) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _check_scores(scores: object, who: str) -> None:
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or not scores.is_floating_point():
        raise LayoutError(f"{who}: expected float scores [N, K], got {_describe(scores)}")
    if scores.shape[1] == 0:
        raise LayoutError(f"{who}: expected at least one class, got {_describe(scores)}")


def _check_class_indices(values: object, length: int | None, num_classes: int, who: str) -> torch.Tensor:
    """``values`` as int64 if it is ``[length]`` integers in ``[0, num_classes)``."""
    if (
        not isinstance(values, torch.Tensor)
        or values.dim() != 1
        or values.is_floating_point()
        or values.is_complex()
        or values.dtype == torch.bool
        or (length is not None and values.shape[0] != length)
    ):
        size = "N" if length is None else length
        raise LayoutError(f"{who}: expected integer indices [{size}], got {_describe(values)}")
    if values.numel() and (int(values.min()) < 0 or int(values.max()) >= num_classes):
        raise LayoutError(
            f"{who}: indices must lie in [0, {num_classes}), got values from {int(values.min())} to {int(values.max())}"
        )
    return values.long()


def _check_multi_hot(targets: object, shape: tuple[int, ...], who: str) -> torch.Tensor:
    """``targets`` as a bool tensor if it has ``shape`` and only 0/1 values."""
    if not isinstance(targets, torch.Tensor) or tuple(targets.shape) != shape:
        raise LayoutError(f"{who}: expected 0/1 targets {list(shape)}, got {_describe(targets)}")
    positive = targets != 0
    if not ((targets == 1) | ~positive).all():
        raise LayoutError(f"{who}: targets must be 0 or 1 (multi-hot), got other values in {_describe(targets)}")
    return positive


def _check_confusion_matrix(matrix: object, who: str) -> None:
    if (
        not isinstance(matrix, torch.Tensor)
        or matrix.dim() != 2
        or matrix.shape[0] != matrix.shape[1]
        or matrix.is_floating_point()
        or matrix.is_complex()
    ):
        raise LayoutError(f"{who}: expected an integer matrix [K, K], got {_describe(matrix)}")
