"""Datasets, frame folders and the synthetic writer on S3 (moto's server on loopback)."""

import boto3
from media import decoded_indices, indexed_frames

from vidray import io as vio
from vidray.data import FrameVideo, Kinetics, make_clip_sampler
from vidray.data.synthetic import SyntheticSpec, write_synthetic_dataset


def test_synthetic_dataset_written_to_s3_reads_back_as_kinetics(s3_bucket):
    spec = SyntheticSpec(num_classes=2, train_per_class=2, val_per_class=1, height=32, width=32, fps=8, duration=1.0)
    data = write_synthetic_dataset(f"{s3_bucket}/synthetic", spec)
    assert data.csv["train"].startswith("s3://")
    dataset = Kinetics(data.csv["train"], make_clip_sampler("random", 0.5), video_path_prefix=data.video_dir["train"])
    samples = list(dataset)
    assert len(samples) == 4 and sorted(s["label"] for s in samples) == [0, 0, 1, 1]
    assert all(s["video"].shape == (3, 4, 32, 32) for s in samples)
    again = write_synthetic_dataset(f"{s3_bucket}/synthetic", spec)  # reused, not rewritten
    assert again.csv == data.csv


def test_frame_folder_on_s3(s3_bucket):
    import io

    from PIL import Image

    client = boto3.client("s3")
    bucket = s3_bucket.removeprefix("s3://")
    for t, frame in enumerate(indexed_frames(12)):
        png = io.BytesIO()
        Image.fromarray(frame).save(png, format="PNG")
        png = png.getvalue()
        client.put_object(Bucket=bucket, Key=f"frames/vid/img_{t + 1}.png", Body=png)
    video = FrameVideo.from_directory(f"{s3_bucket}/frames/vid", fps=4)
    assert video.num_frames == 12 and video.duration == 3.0
    assert decoded_indices(video.get_clip(1.0, 2.0)["video"]) == [4, 5, 6, 7]
    assert vio.list_dir(f"{s3_bucket}/frames") == ["vid"]
