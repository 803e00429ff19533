"""Speed of the model zoo: vidray against PyTorchVideo 0.1.5, and eager against ``torch.compile``.

For every zoo model matching ``--models`` (a wildcard, default all):

* ``vidray``: ``vidray.models.create_model(name)``;
* ``PTV``: the same hub name from ``pytorchvideo.models.hub`` (the real
  PyTorchVideo 0.1.5 from PyPI, the ``bench`` extra), where it has one. Its
  weights are loaded into vidray's model with ``strict=True`` before timing, so
  both run the same architecture on the same numbers; ``max|diff|`` is the
  largest difference between their eval outputs.
* ``compiled``: vidray's model under ``torch.compile`` (inductor), with
  ``--compile``; its compile time is reported separately and not in its timing.

Workload: a random float input of the model's default shape (``InputSpec``;
SlowFast gets its two pathways) at ``--batch`` clips; ``--scale`` < 1 shrinks
frames and crop of the models whose architecture accepts a smaller input (no
fixed pools or positional embeddings), for a quick run. ``infer``: eval
forward under ``torch.inference_mode``. ``train``: forward, cross-entropy on
random labels, backward and an SGD step, in train mode.

``--device cuda``, ``--bf16`` (autocast, both libraries) and
``--channels-last`` (channels_last_3d weights and clips) time the GPU fast
paths; CUDA calls are synchronised before the clock stops.

Timing: ``torch.set_num_threads(--threads)``, one warm-up call per variant,
then the fastest of ``--repeats`` calls, the variants taking turns so that
machine noise hits them alike. Ratios are PTV time / vidray time (> 1: vidray
is faster) and eager / compiled.

Usage::

    .venv/bin/python benchmarks/models.py --models 'x3d*' --compile
    .venv/bin/python benchmarks/models.py --json results.json
    .venv/bin/python benchmarks/models.py --device cuda --bf16 --channels-last
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # vidray from this checkout

from vidray.models import create_model, list_models, model_spec  # noqa: E402


def reference_builder(name: str) -> Callable[[], nn.Module] | None:
    """PyTorchVideo 0.1.5's hub entry of the same name, or ``None`` where it has none."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pytorchvideo.models.hub as ptv_hub
    except ModuleNotFoundError as error:
        raise SystemExit(f"{error}: install the baseline with `.venv/bin/pip install -e \".[bench]\"`") from error
    return getattr(ptv_hub, name, None)


def example_args(name: str, batch: int, scale: float) -> tuple[Any, ...]:
    """The forward's positional arguments: the clip(s), plus boxes for detectors (``ModelSpec.example_args``)."""
    spec = model_spec(name)
    args = list(spec.example_args(batch))
    tensors = []
    for pathway in spec.input.pathways:
        c, t, h, w = pathway.shape
        if scale < 1 and not pathway.exact and pathway.minimum[1:] == (1, 1, 1):
            t, h, w = (max(1, round(d * scale)) for d in (t, h, w))
        tensors.append(torch.randn(batch, c, t, h, w))
    args[0] = tensors[0] if len(tensors) == 1 else tensors
    return tuple(args)


def shape_text(args: tuple[Any, ...]) -> str:
    tensors = args[0] if isinstance(args[0], list) else [args[0]]
    return "+".join("x".join(map(str, t.shape[2:])) for t in tensors)


def output_logits(output: Any) -> torch.Tensor:
    """The logits of a forward (MoViNet's stream models return ``(logits, state)``)."""
    return output[0] if isinstance(output, tuple) else output


def to_device(value: Any, device: torch.device, channels_last: bool) -> Any:
    """Inputs onto the benchmark's device; 5-D clips in channels_last_3d when asked."""
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device, channels_last) for v in value)
    value = value.to(device)
    return value.contiguous(memory_format=torch.channels_last_3d) if channels_last and value.dim() == 5 else value


def prepare(model: nn.Module, args: argparse.Namespace) -> nn.Module:
    model = model.to(args.device)
    if args.channels_last:
        for param in model.parameters():  # 5-D weights only: some models also hold 2-D patch convolutions
            if param.dim() == 5:
                param.data = param.data.contiguous(memory_format=torch.channels_last_3d)
    return model


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fresh(inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    """A new list per call: PyTorchVideo's SlowFast overwrites its input list with the stem's outputs."""
    return tuple(list(a) if isinstance(a, list) else a for a in inputs)


def inference_step(model: nn.Module, inputs: tuple[Any, ...], args: argparse.Namespace) -> Callable[[], None]:
    def step() -> None:
        with torch.inference_mode(), torch.autocast(args.device.type, torch.bfloat16, enabled=args.bf16):
            model(*fresh(inputs))
        synchronize(args.device)

    return step


def train_step(model: nn.Module, inputs: tuple[Any, ...], classes: int, args: argparse.Namespace) -> Callable[[], None]:
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    clips = inputs[0][0] if isinstance(inputs[0], list) else inputs[0]
    labels = torch.randint(classes, (clips.shape[0],), generator=torch.Generator().manual_seed(0))  # detectors: 1 box/clip
    labels = labels.to(args.device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(args.device.type, torch.bfloat16, enabled=args.bf16):
            logits = output_logits(model(*fresh(inputs))).flatten(1)
        nn.functional.cross_entropy(logits.float(), labels).backward()
        optimizer.step()
        synchronize(args.device)

    return step


def fastest(steps: dict[str, Callable[[], None]], repeats: int, failures: list[str], phase: str) -> dict[str, float]:
    """Milliseconds of the fastest call per variant; variants alternate so noise hits all alike.

    A variant whose warm-up call raises is dropped and its error appended to ``failures``.
    """
    for label, step in list(steps.items()):
        try:
            step()
        except Exception as error:  # noqa: BLE001  (a failing baseline is a result, not a crash)
            failures.append(f"{phase} {label}: {type(error).__name__}: {str(error).splitlines()[0][:80]}")
            del steps[label]
    best = {label: float("inf") for label in steps}
    for _ in range(repeats):
        for label, step in steps.items():
            start = time.perf_counter()
            step()
            best[label] = min(best[label], (time.perf_counter() - start) * 1e3)
    return best


@dataclass
class Row:
    model: str
    input: str
    infer_vidray_ms: float | None
    infer_ptv_ms: float | None
    train_vidray_ms: float | None
    train_ptv_ms: float | None
    max_diff: float | None
    infer_compiled_ms: float | None = None
    compile_s: float | None = None
    failures: str = ""

    @property
    def infer_ratio(self) -> float | None:
        return self.infer_ptv_ms / self.infer_vidray_ms if self.infer_ptv_ms and self.infer_vidray_ms else None

    @property
    def train_ratio(self) -> float | None:
        return self.train_ptv_ms / self.train_vidray_ms if self.train_ptv_ms and self.train_vidray_ms else None

    @property
    def compile_speedup(self) -> float | None:
        return self.infer_vidray_ms / self.infer_compiled_ms if self.infer_compiled_ms and self.infer_vidray_ms else None


def benchmark(name: str, args: argparse.Namespace) -> Row:
    torch.manual_seed(0)
    build_reference = reference_builder(name)
    reference = build_reference().eval() if build_reference else None
    classes = model_spec(name).num_classes
    if reference is not None:  # PyTorchVideo's mvit_base_16 builds 400 classes where its checkpoint has 1000
        classes = reference.state_dict()[f"{model_spec(name).classifier}.weight"].shape[0]
    ours = create_model(name, num_classes=classes).eval()
    inputs = to_device(example_args(name, args.batch, args.scale), args.device, args.channels_last)
    max_diff = None
    if reference is not None:
        ours.load_state_dict(reference.state_dict(), strict=True)
        reference = prepare(reference, args)
    ours = prepare(ours, args)
    if reference is not None:
        with torch.inference_mode():
            max_diff = (output_logits(ours(*fresh(inputs))) - reference(*fresh(inputs))).abs().max().item()

    infer = {"vidray": inference_step(ours, inputs, args)}
    if reference is not None:
        infer["ptv"] = inference_step(reference, inputs, args)
    compile_s = None
    if args.compile:
        start = time.perf_counter()
        compiled = torch.compile(ours)
        inference_step(compiled, inputs, args)()  # compiles
        compile_s = time.perf_counter() - start
        infer["compiled"] = inference_step(compiled, inputs, args)
    failures: list[str] = []
    infer_ms = fastest(infer, args.repeats, failures, "infer")

    ours.train()
    train = {"vidray": train_step(ours, inputs, classes, args)}
    if reference is not None:
        reference.train()
        train["ptv"] = train_step(reference, inputs, classes, args)
    train_ms = fastest(train, args.repeats, failures, "train")
    return Row(
        name, shape_text(inputs), infer_ms.get("vidray"), infer_ms.get("ptv"), train_ms.get("vidray"), train_ms.get("ptv"),
        max_diff, infer_ms.get("compiled"), compile_s, "; ".join(failures),
    )


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_table(rows: list[Row]) -> str:
    header = [
        "model", "input TxHxW", "infer vidray ms", "infer PTV ms", "PTV/vidray", "train vidray ms",
        "train PTV ms", "PTV/vidray", "compiled ms", "eager/compiled", "compile s", "max|diff|",
    ]
    lines = [header] + [
        [
            r.model, r.input, _cell(r.infer_vidray_ms, ".1f"), _cell(r.infer_ptv_ms, ".1f"), _cell(r.infer_ratio, ".2f"),
            _cell(r.train_vidray_ms, ".1f"), _cell(r.train_ptv_ms, ".1f"), _cell(r.train_ratio, ".2f"),
            _cell(r.infer_compiled_ms, ".1f"), _cell(r.compile_speedup, ".2f"), _cell(r.compile_s, ".0f"),
            _cell(r.max_diff, ".1e"),
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="*", help="wildcard over zoo names (default: all)")
    parser.add_argument("--batch", type=int, default=1, help="clips per call (default 1)")
    parser.add_argument("--scale", type=float, default=1.0, help="shrink T, H, W of size-flexible models")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per variant (fastest counts)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--compile", action="store_true", help="also time vidray under torch.compile")
    parser.add_argument("--device", type=torch.device, default=torch.device("cpu"), help="cpu (default) or cuda")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (both libraries)")
    parser.add_argument("--channels-last", action="store_true", help="channels_last_3d weights and clips")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    names = list_models(args.models)
    if not names:
        raise SystemExit(f"no zoo model matches {args.models!r}")
    print(
        f"torch {torch.__version__}, {args.device}, {args.threads} threads, batch {args.batch}, scale {args.scale}, "
        f"bf16 {args.bf16}, channels_last_3d {args.channels_last}",
        flush=True,
    )
    rows = []
    for name in names:
        rows.append(benchmark(name, args))
        print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(format_table(rows))
    for row in rows:
        if row.failures:
            print(f"{row.model}: {row.failures}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2))


if __name__ == "__main__":
    main()
