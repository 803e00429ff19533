"""Ray platform throughput: ingest scaling with decode workers, and what Ray costs a training step.

Two measurements, each a ratio taken in one run on a local Ray:

* ``scaling``: clips/s out of :meth:`vidray.ingest.clips.ClipSource.epoch` with 1
  and with 2 concurrent decode tasks (one CPU each, FFmpeg and torch single-threaded,
  tasks sized by time and output in order, as in training), consumed by the driver without further
  work; whole epochs of warm worker processes, timed from the first request to
  the last clip. The same clips decoded by 1 and 2 plain forked processes give
  the machine's own ceiling (a shared 2-vCPU VM does not always scale 2x).
  Settings alternate; the best of ``--repeats`` epochs each. Target: >= 1.7x on 2 cores.
* ``feed``: training clips/s of the same model, batch and data fed three ways:
  a plain loop over ``torch.utils.data.DataLoader`` (1 worker process); a Ray
  Train worker decoding its shard as the engine does (1 decode task at a time,
  clips in order, torch's deterministic algorithms: the reproducible vidray
  path); and the same with Ray Data free to reorder (what reproducibility costs).
  All train with one torch thread, so each setup holds one core for training
  and one for decoding; steps are timed after a warm-up.
  Target: reproducible Ray / DataLoader >= 0.9x (Ray costs no throughput).

    python benchmarks/ingest.py                 # both
    python benchmarks/ingest.py --only scaling
"""

from __future__ import annotations

import argparse
import multiprocessing
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
from vidray.ingest.clips import ClipSource
from vidray.train.engine import use_deterministic_algorithms
from vidray.ingest.state import create_ingest_state

CROP = 96


def dataset(root: str, videos_per_class: int, size: int, frames: int, clips_per_video: int) -> LabeledVideoDataset:
    crop = ComponentConfig(name="ApplyTransformToKey", args={"key": "video", "transform": [
        {"name": "ShortSideScale", "args": {"size": CROP}}, {"name": "CenterCrop", "args": {"size": CROP}}]})
    config = DataConfig(
        synthetic=SyntheticConfig(root=root, num_classes=4, train_per_class=videos_per_class, val_per_class=1,
                                  height=size, width=size, fps=30.0, duration=4.0),
        split="train", frames_per_clip=frames, decode_audio=False, transform=[crop],
        clip_sampler=ComponentConfig(name="constant_clips_per_video",
                                     args={"clip_duration": 1.0, "clips_per_video": clips_per_video}),
    )
    return build_dataset(config, seed=0)


def ray_epoch_rate(clips: Any) -> float:
    """Clips/s of one whole pass of a Ray Dataset, consumed by the driver."""
    count, start = 0, time.perf_counter()
    for batch in clips.iter_batches(batch_size=None, batch_format="numpy"):
        count += len(batch["label"])
    return count / (time.perf_counter() - start)


_FORKED: LabeledVideoDataset | None = None  # the dataset, inherited by the forked processes


def _decode_share(share: tuple[int, int]) -> int:
    torch.set_num_threads(1)
    order = _FORKED.clip_order(0)
    for video_index, slot in order[share[0]::share[1]]:
        _FORKED.load_clip(video_index, slot, 0)
    return len(order[share[0]::share[1]])


def process_epoch_rate(pool: Any, processes: int) -> float:
    """Clips/s of one pass split over ``processes`` plain forked processes (the ceiling)."""
    start = time.perf_counter()
    count = sum(pool.map(_decode_share, [(i, processes) for i in range(processes)]))
    return count / (time.perf_counter() - start)


def fork_decoders(data: LabeledVideoDataset) -> dict[int, Any]:
    """Pools of 1 and 2 plain processes holding ``data``; forked before Ray starts in this process."""
    global _FORKED
    _FORKED = data
    return {n: multiprocessing.get_context("fork").Pool(n) for n in (1, 2)}


def scaling(data: LabeledVideoDataset, pools: dict[int, Any], repeats: int) -> None:
    state = create_ingest_state()
    pipelines = {n: ClipSource.create(data, name=f"scaling{n}", state=state, decode_workers=n).epoch(0) for n in (1, 2)}
    best: dict[str, float] = {}
    for repeat in range(repeats + 1):  # the first pass warms processes and page cache: not counted
        for n in (1, 2):
            for name, rate in ((f"vidray (Ray Data), {n} decode task(s)", ray_epoch_rate(pipelines[n])),
                               (f"plain processes, {n}", process_epoch_rate(pools[n], n))):
                if repeat:
                    best[name] = max(best.get(name, 0.0), rate)
    for pool in pools.values():
        pool.terminate()
    print(f"\ningest scaling ({len(data)} clips/epoch, best of {repeats} epochs)")
    print(f"  {'decoded by':<38} {'clips/s':>8}")
    for name, rate in best.items():
        print(f"  {name:<38} {rate:>8.1f}")
    ceiling = best["plain processes, 2"] / best["plain processes, 1"]
    ratio = best["vidray (Ray Data), 2 decode task(s)"] / best["vidray (Ray Data), 1 decode task(s)"]
    print(f"  machine ceiling, 2 vs 1 process: {ceiling:.2f}x")
    print(f"  vidray scaling 2 vs 1 task: {ratio:.2f}x (target >= 1.7x)")


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


def feed_from_ray(data: LabeledVideoDataset, batch: int, warmup: int, steps: int, ordered: bool) -> float:
    from ray.train.torch import TorchTrainer

    def loop(config: dict) -> None:
        torch.set_num_threads(1)
        clips = config["source"].epoch(0)  # this worker's shard, as the engine takes it
        if config["ordered"]:
            use_deterministic_algorithms(torch.device("cpu"))  # as the engine does
        else:
            clips.context.execution_options.preserve_order = False
        rate = train_steps(clips.iter_torch_batches(batch_size=config["batch"], prefetch_batches=2),
                           config["warmup"], config["steps"])
        with open(config["result"], "w") as file:  # same machine: the driver reads it back
            file.write(str(rate))

    result = os.path.join(tempfile.mkdtemp(prefix="vidray-bench-"), "clips_per_s")
    source = ClipSource.create(data, name="feed", decode_workers=1)
    trainer = TorchTrainer(
        loop,
        train_loop_config={"batch": batch, "warmup": warmup, "steps": steps, "result": result, "source": source,
                           "ordered": ordered},
        scaling_config=ray.train.ScalingConfig(num_workers=1, resources_per_worker={"CPU": 1}),
        run_config=ray.train.RunConfig(storage_path=tempfile.mkdtemp(prefix="vidray-bench-")),
    )
    trainer.fit()
    with open(result) as file:
        return float(file.read())


def feed(data: LabeledVideoDataset, repeats: int, batch: int, warmup: int, steps: int) -> None:
    reproducible, unordered = "Ray, reproducible", "Ray, unordered"
    rates: dict[str, list[float]] = {"DataLoader": [], reproducible: [], unordered: []}
    for _ in range(repeats):
        rates["DataLoader"].append(feed_from_dataloader(data, batch, warmup, steps))
        rates[reproducible].append(feed_from_ray(data, batch, warmup, steps, ordered=True))
        rates[unordered].append(feed_from_ray(data, batch, warmup, steps, ordered=False))
    print(f"\ntraining feed (batch {batch}, {steps} timed steps after {warmup}, median of {repeats})")
    print(f"  {'fed by':<22} {'clips/s':>8}   runs")
    for name, values in rates.items():
        print(f"  {name:<22} {statistics.median(values):>8.1f}   {', '.join(f'{v:.1f}' for v in values)}")
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"  reproducible Ray / DataLoader: {median[reproducible] / median['DataLoader']:.2f}x (target >= 0.9x)")
    print(f"  reproducible / unordered Ray: {median[reproducible] / median[unordered]:.2f}x (the cost of determinism)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("scaling", "feed"))
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "vidray-bench-ingest"))
    parser.add_argument("--videos-per-class", type=int, default=75)
    parser.add_argument("--clips-per-video", type=int, default=8)
    parser.add_argument("--size", type=int, default=224, help="source frame size (square)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    args = parser.parse_args()
    data = dataset(os.path.join(args.workdir, "data"), args.videos_per_class, args.size, 8, args.clips_per_video)
    pools = fork_decoders(data) if args.only in (None, "scaling") else {}
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    print(f"{len(data)} clips per epoch: {data.num_videos} videos {args.size}x{args.size}, {args.clips_per_video} clips of 8 frames each -> {CROP}x{CROP}")
    if args.only in (None, "scaling"):
        scaling(data, pools, args.repeats)
    if args.only in (None, "feed"):
        feed(data, args.repeats, args.batch, args.warmup, args.steps)


if __name__ == "__main__":
    main()
