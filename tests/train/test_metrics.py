"""Evaluation metrics against hand-computed values, and multi-view aggregation across two real processes."""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from PIL import Image

from vidray.errors import DataError, LayoutError
from vidray.train.metrics import (
    VideoScoreTable,
    average_precision,
    confusion_matrix,
    confusion_matrix_png,
    mean_average_precision,
    per_class_accuracy,
    topk_correct,
)

DARK_BLUE = (8, 48, 107)  # the heatmap colour of a row's whole mass


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def logits_of(probs: list[list[float]]) -> torch.Tensor:
    """Logits whose softmax is ``probs`` (rows summing to 1)."""
    return torch.tensor(probs, dtype=torch.float64).log().float()


def logit(p: list[list[float]]) -> torch.Tensor:
    """Logits whose sigmoid is ``p``."""
    p = torch.tensor(p, dtype=torch.float64)
    return (p / (1 - p)).log().float()


# --- top-k ---------------------------------------------------------------------------------------


def test_topk_correct_counts_labels_among_the_k_best() -> None:
    scores = torch.tensor(
        [
            [0.1, 0.5, 0.2, 0.0, 0.3, 0.9],  # label 5: rank 0
            [0.9, 0.5, 0.2, 0.0, 0.3, 0.1],  # label 4: rank 2
            [0.9, 0.5, 0.2, 0.0, 0.3, 0.1],  # label 3: rank 5
        ]
    )
    assert topk_correct(scores, torch.tensor([5, 4, 3]), ks=(1, 2, 3, 5)) == {1: 1, 2: 1, 3: 2, 5: 2}


def test_topk_k_is_clipped_to_the_number_of_classes() -> None:
    scores = torch.tensor([[0.1, 0.5, 0.2], [0.9, 0.5, 0.2]])
    assert topk_correct(scores, torch.tensor([0, 2])) == {1: 0, 5: 2}


def test_topk_ties_rank_the_lower_class_index_first() -> None:
    scores = torch.tensor([[0.5, 0.5, 0.1], [0.5, 0.5, 0.1]])
    assert topk_correct(scores, torch.tensor([0, 1]), ks=(1, 2)) == {1: 1, 2: 2}


def test_topk_sample_with_nan_score_is_never_correct() -> None:
    scores = torch.tensor([[math.nan, 0.5, 0.1], [0.9, 0.5, 0.1]])
    assert topk_correct(scores, torch.tensor([1, 0]), ks=(1, 3)) == {1: 1, 3: 1}


def test_topk_rejects_out_of_range_labels() -> None:
    with pytest.raises(LayoutError, match=r"indices must lie in \[0, 3\)"):
        topk_correct(torch.zeros(2, 3), torch.tensor([0, 3]))


# --- average precision ---------------------------------------------------------------------------


def reference_average_precision(scores: list[float], targets: list[int]) -> float:
    """Brute force: precision and recall at every distinct threshold, highest first."""
    positives = sum(targets)
    ap, previous_recall = 0.0, 0.0
    for threshold in sorted(set(scores), reverse=True):
        chosen = [t for s, t in zip(scores, targets) if s >= threshold]
        recall = sum(chosen) / positives
        ap += (recall - previous_recall) * sum(chosen) / len(chosen)
        previous_recall = recall
    return ap


def test_average_precision_hand_computed() -> None:
    scores = torch.tensor([[0.9], [0.8], [0.7], [0.6]])
    targets = torch.tensor([[1], [0], [1], [0]])
    # positives at ranks 1 and 3: (1/1 + 2/3) / 2
    assert average_precision(scores, targets).tolist() == pytest.approx([5 / 6])


def test_average_precision_tied_scores_form_one_threshold_in_any_order() -> None:
    # threshold 0.9: 1 of 2 correct (P 1/2, R 1/2); threshold 0.5: 2 of 3 (P 2/3, R 1) -> 1/4 + 1/3
    expected = pytest.approx([0.5 * 0.5 + 0.5 * 2 / 3])
    assert average_precision(torch.tensor([[0.9], [0.9], [0.5]]), torch.tensor([[0], [1], [1]])).tolist() == expected
    assert average_precision(torch.tensor([[0.9], [0.9], [0.5]]), torch.tensor([[1], [0], [1]])).tolist() == expected


def test_average_precision_matches_brute_force_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    scores = (torch.rand(40, 6, generator=generator) * 8).round() / 8  # many ties
    targets = (torch.rand(40, 6, generator=generator) < 0.3).long()
    targets[0] = 1  # every class has a positive
    expected = [reference_average_precision(scores[:, k].tolist(), targets[:, k].tolist()) for k in range(6)]
    assert average_precision(scores, targets).tolist() == pytest.approx(expected, rel=1e-12)


def test_mean_average_precision_skips_classes_without_positives() -> None:
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.8, 0.7, 0.4], [0.1, 0.6, 0.3]])
    targets = torch.tensor([[1, 0, 0], [0, 0, 0], [1, 1, 0]])
    ap = average_precision(scores, targets)
    assert ap[:2].tolist() == pytest.approx([(1 + 2 / 3) / 2, 1 / 2]) and math.isnan(ap[2])
    assert mean_average_precision(scores, targets) == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2) / 2)


def test_average_precision_rejects_soft_targets() -> None:
    with pytest.raises(LayoutError, match="must be 0 or 1"):
        average_precision(torch.zeros(2, 2), torch.tensor([[0.5, 0.0], [1.0, 0.0]]))


# --- confusion matrix ----------------------------------------------------------------------------


def test_confusion_matrix_rows_are_true_classes() -> None:
    matrix = confusion_matrix(torch.tensor([0, 2, 2, 1, 0]), torch.tensor([0, 2, 1, 1, 1]), num_classes=4)
    assert matrix.tolist() == [[1, 0, 0, 0], [1, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert matrix.dtype == torch.int64


def test_per_class_accuracy_is_nan_for_classes_without_samples() -> None:
    accuracy = per_class_accuracy(torch.tensor([[1, 0, 0], [1, 1, 1], [0, 0, 0]]))
    assert accuracy[:2].tolist() == pytest.approx([1.0, 1 / 3]) and math.isnan(accuracy[2])


# --- view aggregation ----------------------------------------------------------------------------

# Three videos x two views of three classes; the video-level prediction differs from the views'.
VIEW_PROBS = [
    [0.7, 0.2, 0.1],  # video 0 (label 0): right
    [0.2, 0.5, 0.3],  # video 0: wrong; mean [0.45, 0.35, 0.2] right
    [0.1, 0.3, 0.6],  # video 1 (label 2): right
    [0.1, 0.5, 0.4],  # video 1: wrong; mean [0.1, 0.4, 0.5] right
    [0.5, 0.4, 0.1],  # video 2 (label 1): wrong
    [0.6, 0.3, 0.1],  # video 2: wrong; mean [0.55, 0.35, 0.1] wrong, label second
]
VIEW_VIDEOS = [0, 0, 1, 1, 2, 2]
VIDEO_LABELS = [0, 2, 1]


def aggregate(order: list[int], expected_views: int | None = 2, num_videos: int = 3) -> VideoScoreTable:
    aggregator = VideoScoreTable(num_videos, 3, expected_views)
    logits = logits_of(VIEW_PROBS)
    videos = torch.tensor(VIEW_VIDEOS)
    for batch in (order[:4], order[4:]):
        aggregator.add(videos[batch], logits[batch], torch.tensor([VIDEO_LABELS[v] for v in videos[batch]]))
    return aggregator


def test_video_prediction_averages_the_views_softmax() -> None:
    aggregator = aggregate([0, 1, 2, 3, 4, 5])
    aggregator.all_reduce()
    result = aggregator.result(["a", "b", "c"])
    assert (result.top1, result.top5, result.clip_top1) == (pytest.approx(2 / 3), 1.0, pytest.approx(2 / 6))
    assert result.confusion_matrix.tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 1]]
    assert result.per_class_accuracy.tolist() == [1.0, 0.0, 1.0]
    assert (result.num_videos_evaluated, result.num_clips, result.complete) == (3, 6, True)
    assert result.class_names == ("a", "b", "c") and result.mAP is None


def test_result_does_not_depend_on_view_order_or_batching() -> None:
    first = aggregate([0, 1, 2, 3, 4, 5]).result()
    second = aggregate([5, 2, 0, 4, 3, 1]).result()
    assert first.metrics() == second.metrics()
    assert torch.equal(first.confusion_matrix, second.confusion_matrix)


def test_video_never_seen_is_missing_not_wrong() -> None:
    result = aggregate([0, 1, 2, 3, 4, 5], num_videos=4).result()
    assert (result.num_videos, result.num_videos_evaluated, result.missing_views) == (4, 3, 1)
    assert result.top1 == pytest.approx(2 / 3) and not result.complete


def test_videos_with_fewer_or_more_views_are_reported() -> None:
    aggregator = aggregate([0, 1, 2, 3, 4, 5], expected_views=[2, 1, 3])
    result = aggregator.result()
    assert (result.missing_views, result.duplicate_views) == (1, 1)
    assert result.metrics()["missing_views"] == 1.0 and result.metrics()["duplicate_views"] == 1.0


def test_without_expected_views_only_unseen_videos_are_missing() -> None:
    result = aggregate([0, 1, 2, 3, 4, 5], expected_views=None, num_videos=4).result()
    assert (result.missing_views, result.duplicate_views) == (1, 0)


def test_views_of_one_video_with_different_labels_are_an_error() -> None:
    aggregator = VideoScoreTable(2, 3, 2)
    aggregator.add(torch.tensor([1, 1]), torch.zeros(2, 3), torch.tensor([0, 2]))
    with pytest.raises(DataError, match=r"different labels \(video indices \[1\]\)"):
        aggregator.result()


def test_multi_label_video_target_is_the_union_of_its_views_targets() -> None:
    table = VideoScoreTable(1, 3, 2, multi_label=True)  # Charades: each clip has its own actions
    table.add(torch.tensor([0, 0]), torch.tensor([[9.0, -9.0, -9.0], [-9.0, 9.0, -9.0]]),
              torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    result = table.result()
    assert result.per_class_ap[:2].tolist() == [1.0, 1.0] and torch.isnan(result.per_class_ap[2])


def test_multi_label_takes_each_class_maximum_over_views() -> None:
    aggregator = VideoScoreTable(3, 2, 2, multi_label=True)
    view_probs = [[0.9, 0.1], [0.2, 0.3], [0.3, 0.8], [0.4, 0.2], [0.6, 0.5], [0.1, 0.7]]
    labels = torch.tensor([[1, 0], [1, 0], [0, 0], [0, 0], [1, 1], [1, 1]])
    aggregator.add(torch.tensor([0, 0, 1, 1, 2, 2]), logit(view_probs), labels)
    result = aggregator.result()
    # maxima: class 0 [0.9, 0.4, 0.6] positives {0, 2} -> AP 1; class 1 [0.3, 0.8, 0.7] positive {2} -> AP 1/2
    # (the mean, [0.2, 0.5, 0.6] for class 1, would give AP 1)
    assert result.per_class_ap.tolist() == pytest.approx([1.0, 0.5])
    assert result.mAP == pytest.approx(0.75)
    assert result.top1 is None and result.confusion_matrix is None


def test_add_after_all_reduce_and_a_second_all_reduce_are_errors() -> None:
    aggregator = aggregate([0, 1, 2, 3, 4, 5])
    aggregator.all_reduce()
    with pytest.raises(RuntimeError, match="twice"):
        aggregator.all_reduce()
    with pytest.raises(RuntimeError, match="after all_reduce"):
        aggregator.add(torch.tensor([0]), torch.zeros(1, 3), torch.tensor([0]))


def test_video_index_out_of_range_is_an_error() -> None:
    with pytest.raises(LayoutError, match="video_index"):
        VideoScoreTable(2, 3, 1).add(torch.tensor([2]), torch.zeros(1, 3), torch.tensor([0]))


# --- two processes -------------------------------------------------------------------------------

NUM_VIDEOS, NUM_CLASSES, VIEWS = 12, 5, 3


def distributed_views() -> list[tuple[int, torch.Tensor, int, torch.Tensor]]:
    """(video, logits [K], label, multi-hot [K]) per view: video 11 is never seen, and
    video 0's first view comes twice (a padded sampler)."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(NUM_CLASSES, (NUM_VIDEOS,), generator=generator)
    multi_hot = (torch.rand(NUM_VIDEOS, NUM_CLASSES, generator=generator) < 0.4).long()
    views = []
    for video in range(NUM_VIDEOS - 1):
        for _ in range(VIEWS):
            views.append((video, torch.randn(NUM_CLASSES, generator=generator), int(labels[video]), multi_hot[video]))
    return views + [views[0]]


def fill(single: VideoScoreTable, multi: VideoScoreTable, views: list) -> None:
    for start in range(0, len(views), 4):
        batch = views[start : start + 4]
        videos = torch.tensor([v[0] for v in batch])
        logits = torch.stack([v[1] for v in batch])
        single.add(videos, logits, torch.tensor([v[2] for v in batch]))
        multi.add(videos, logits, torch.stack([v[3] for v in batch]))


def distributed_worker(rank: int, world_size: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        single = VideoScoreTable(NUM_VIDEOS, NUM_CLASSES, VIEWS)
        multi = VideoScoreTable(NUM_VIDEOS, NUM_CLASSES, VIEWS, multi_label=True)
        fill(single, multi, distributed_views()[rank::world_size])  # views of one video land on both ranks
        single.all_reduce()
        multi.all_reduce()
        # rank 0 and rank 1 disagree on video 0's label
        conflicting = VideoScoreTable(1, NUM_CLASSES, 2)
        conflicting.add(torch.tensor([0]), torch.zeros(1, NUM_CLASSES), torch.tensor([rank]))
        conflicting.all_reduce()
        try:
            conflicting.result()
            conflict = "no error"
        except DataError as exc:
            conflict = str(exc)
        torch.save(
            {"single": single.result(), "multi": multi.result(), "scores": single.scores, "conflict": conflict},
            f"{out}/rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_rank_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    tmp = tmp_path_factory.mktemp("dist")
    mp.spawn(distributed_worker, args=(2, str(tmp / "init"), str(tmp)), nprocs=2, join=True)
    return [torch.load(tmp / f"rank{rank}.pt", weights_only=False) for rank in range(2)]


@pytest.fixture(scope="module")
def one_process_result() -> tuple[VideoScoreTable, VideoScoreTable]:
    single = VideoScoreTable(NUM_VIDEOS, NUM_CLASSES, VIEWS)
    multi = VideoScoreTable(NUM_VIDEOS, NUM_CLASSES, VIEWS, multi_label=True)
    fill(single, multi, distributed_views())
    return single, multi


def test_two_ranks_hold_the_single_process_totals(two_rank_results: list[dict], one_process_result) -> None:
    single, multi = one_process_result
    expected_single, expected_multi = single.result(), multi.result()
    for rank in two_rank_results:
        torch.testing.assert_close(rank["scores"], single.scores, rtol=1e-12, atol=1e-12)
        assert rank["single"].metrics() == expected_single.metrics()
        assert torch.equal(rank["single"].confusion_matrix, expected_single.confusion_matrix)
        assert rank["multi"].mAP == pytest.approx(expected_multi.mAP, rel=1e-12)


def test_two_ranks_report_missing_and_duplicated_views(two_rank_results: list[dict]) -> None:
    for rank in two_rank_results:
        result = rank["single"]
        assert (result.missing_views, result.duplicate_views, result.num_clips) == (1, 1, 34)
        assert result.num_videos_evaluated == NUM_VIDEOS - 1


def test_label_disagreement_across_ranks_is_an_error(two_rank_results: list[dict]) -> None:
    assert all("different labels (video indices [0])" in rank["conflict"] for rank in two_rank_results)


# --- confusion matrix image ----------------------------------------------------------------------


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")


def pixels(image: Image.Image) -> torch.Tensor:
    return torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(-1, 3)


def count_colour(image: Image.Image, colour: tuple[int, int, int]) -> int:
    return int((pixels(image) == torch.tensor(colour, dtype=torch.uint8)).all(1).sum())


def test_png_with_class_names_shows_the_diagonal_and_labels() -> None:
    matrix = torch.eye(3, dtype=torch.long) * 7
    image = decode(confusion_matrix_png(matrix, ["abseiling", "air drumming", "answering questions"]))
    assert image.width > 3 * 36 and image.height > 3 * 36  # cells plus class-name margins
    cells = count_colour(image, DARK_BLUE)
    assert 0.8 * 3 * 36 * 36 < cells < 3 * 36 * 36  # three full cells, less the count digits
    assert len(pixels(image).unique(dim=0)) > 20  # text was drawn (anti-aliased)


def test_png_for_many_classes_is_a_plain_heatmap_of_the_expected_size() -> None:
    image = decode(confusion_matrix_png(torch.eye(100, dtype=torch.long)))
    assert image.width == 8 + 100 * 8 + 8  # 8 px cells between 8 px margins
    assert count_colour(image, DARK_BLUE) == 100 * 8 * 8


def test_png_rejects_wrong_number_of_class_names() -> None:
    with pytest.raises(LayoutError, match="2 class names for 3 classes"):
        confusion_matrix_png(torch.eye(3, dtype=torch.long), ["a", "b"])
