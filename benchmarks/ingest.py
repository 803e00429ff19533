"""Ray platform throughput: ingest scaling with decode workers, and what Ray costs a training step.

Two measurements, each a ratio taken in one run on a local Ray:

* ``scaling``: clips/s out of :func:`vidray.ingest.clips.clip_dataset` with 1
  and with 2 concurrent decode tasks (one CPU each, FFmpeg and torch single-threaded),
  consumed by the driver without further work. Timed from the first clip to
  the last of an epoch (worker start-up excluded: it is paid once per process and
  shrinks with epoch length); the best of ``--repeats`` epochs per setting,
  settings alternating. Target: >= 1.7x on 2 cores.
* ``feed``: training clips/s of the same model, batch and data fed two ways:
  a plain loop over ``torch.utils.data.DataLoader`` (1 worker process), and a
  Ray Train worker reading ``ray.train.get_dataset_shard`` (1 decode task at a time):
  the vidray path. Both train with one torch thread, so each setup holds one
  core for training and one for decoding; steps are timed after a warm-up.
  Target: Ray/DataLoader >= 0.9x (Ray costs no throughput).

    python benchmarks/ingest.py                 # both
    python benchmarks/ingest.py --only scaling
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Any

import ray
import ray.train
import torch
from torch.utils.data import DataLoader

from vidray.config import ComponentConfig
from vidray.data import LabeledVideoDataset
from vidray.data.collate import collate_skipping_none
from vidray.data.config import DataConfig, SyntheticConfig, build_dataset
from vidray.ingest.clips import clip_dataset
from vidray.ingest.state import create_ingest_state

CROP = 96


def dataset(root: str, videos_per_class: int, size: int, frames: int) -> LabeledVideoDataset:
    crop = ComponentConfig(name="ApplyTransformToKey", args={"key": "video", "transform": [
        {"name": "ShortSideScale", "args": {"size": CROP}}, {"name": "CenterCrop", "args": {"size": CROP}}]})
    config = DataConfig(
        synthetic=SyntheticConfig(root=root, num_classes=4, train_per_class=videos_per_class, val_per_class=1,
                                  height=size, width=size, fps=30.0, duration=4.0),
        split="train", frames_per_clip=frames, decode_audio=False, transform=[crop],
        clip_sampler=ComponentConfig(name="random", args={"clip_duration": 2.0}),
    )
    return build_dataset(config, seed=0)


def epoch_seconds(clips: Any) -> tuple[float, int]:
    """Seconds from the first batch to the last of one pass, and the clips after the first batch."""
    count, start = 0, None
    for batch in clips.iter_batches(batch_size=None, batch_format="numpy"):
        if start is None:
            start = time.perf_counter()
        else:
            count += len(batch["label"])
    return time.perf_counter() - start, count


def scaling(data: LabeledVideoDataset, repeats: int) -> None:
    state = create_ingest_state()
    pipelines = {n: clip_dataset(data, name=f"scaling{n}", state=state, decode_workers=n, clips_per_task=8) for n in (1, 2)}
    best: dict[int, float] = {1: 0.0, 2: 0.0}
    for _ in range(repeats):
        for workers, clips in pipelines.items():
            seconds, count = epoch_seconds(clips)
            best[workers] = max(best[workers], count / seconds)
    print(f"\ningest scaling ({len(data)} clips/epoch, best of {repeats})")
    print(f"  {'decode tasks':<14} {'clips/s':>8}")
    for workers, rate in best.items():
        print(f"  {workers:<14} {rate:>8.1f}")
    print(f"  scaling 2 vs 1 task: {best[2] / best[1]:.2f}x (target >= 1.7x)")


def make_model() -> torch.nn.Module:
    from vidray.models import create_model

    return create_model("create_x3d", num_classes=4, input_clip_length=8, input_crop_size=CROP,
                        width_factor=1.0, depth_factor=1.0, dropout_rate=0.0)


def train_steps(batches: Any, warmup: int, steps: int) -> float:
    """Trains on ``warmup + steps`` batches; returns clips/s over the timed ones."""
    torch.manual_seed(0)
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    mean, std = 0.45 * 255, 0.225 * 255
    clips, start = 0, 0.0
    for index, batch in enumerate(batches):
        if index == warmup:
            start = time.perf_counter()
        if index == warmup + steps:
            break
        video = (batch["video"].float() - mean) / std
        loss = torch.nn.functional.cross_entropy(model(video), batch["label"].long())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if index >= warmup:
            clips += len(video)
    return clips / (time.perf_counter() - start)


def feed_from_dataloader(data: LabeledVideoDataset, batch: int, warmup: int, steps: int) -> float:
    torch.set_num_threads(1)
    loader = DataLoader(data, batch_size=batch, num_workers=1, collate_fn=collate_skipping_none)
    return train_steps(loader, warmup, steps)


def feed_from_ray(data: LabeledVideoDataset, batch: int, warmup: int, steps: int) -> float:
    from ray.train.torch import TorchTrainer

    def loop(config: dict) -> None:
        torch.set_num_threads(1)
        shard = ray.train.get_dataset_shard("train")
        rate = train_steps(shard.iter_torch_batches(batch_size=config["batch"], prefetch_batches=2),
                           config["warmup"], config["steps"])
        with open(config["result"], "w") as file:  # same machine: the driver reads it back
            file.write(str(rate))

    result = os.path.join(tempfile.mkdtemp(prefix="vidray-bench-"), "clips_per_s")
    trainer = TorchTrainer(
        loop,
        train_loop_config={"batch": batch, "warmup": warmup, "steps": steps, "result": result},
        scaling_config=ray.train.ScalingConfig(num_workers=1, resources_per_worker={"CPU": 1}),
        run_config=ray.train.RunConfig(storage_path=tempfile.mkdtemp(prefix="vidray-bench-")),
        datasets={"train": clip_dataset(data, name="feed", decode_workers=1, clips_per_task=2)},
    )
    trainer.fit()
    with open(result) as file:
        return float(file.read())


def feed(data: LabeledVideoDataset, repeats: int, batch: int, warmup: int, steps: int) -> None:
    rates: dict[str, list[float]] = {"DataLoader": [], "Ray Data + Ray Train": []}
    for _ in range(repeats):
        rates["DataLoader"].append(feed_from_dataloader(data, batch, warmup, steps))
        rates["Ray Data + Ray Train"].append(feed_from_ray(data, batch, warmup, steps))
    print(f"\ntraining feed (batch {batch}, {steps} timed steps after {warmup}, median of {repeats})")
    print(f"  {'fed by':<22} {'clips/s':>8}   runs")
    for name, values in rates.items():
        print(f"  {name:<22} {statistics.median(values):>8.1f}   {', '.join(f'{v:.1f}' for v in values)}")
    ratio = statistics.median(rates["Ray Data + Ray Train"]) / statistics.median(rates["DataLoader"])
    print(f"  Ray / DataLoader: {ratio:.2f}x (target >= 0.9x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("scaling", "feed"))
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "vidray-bench-ingest"))
    parser.add_argument("--videos-per-class", type=int, default=24)
    parser.add_argument("--size", type=int, default=224, help="source frame size (square)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps")
    parser.add_argument("--steps", type=int, default=8, help="timed training steps")
    args = parser.parse_args()
    data = dataset(os.path.join(args.workdir, "data"), args.videos_per_class, args.size, frames=8)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    print(f"{len(data)} clips per epoch: {data.num_videos} videos {args.size}x{args.size}, 8 frames -> {CROP}x{CROP}")
    if args.only in (None, "scaling"):
        scaling(data, args.repeats)
    if args.only in (None, "feed"):
        feed(data, args.repeats, args.batch, args.warmup, args.steps)


if __name__ == "__main__":
    main()
