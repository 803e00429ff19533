"""``create_video_transform``: the standard train/val video pipelines, PyTorchVideo's factory.

Same arguments and the same distribution of outputs as PyTorchVideo, in a
faster order: PyTorchVideo converted and normalised every full-size frame and
then scaled and cropped it; vidray picks the crop first, converts and resizes
only that window, and normalises the 224x224 result (scaling, cropping and
flipping commute with the per-channel normalisation). RandAugment/AugMix run
on the crop, as timm does, instead of the full frame.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from vidray.errors import ConfigError
from vidray.transforms.augmix import AugMix
from vidray.transforms.compose import Compose
from vidray.transforms.rand_augment import RandAugment
from vidray.transforms.transforms import (
    ApplyTransformToKey,
    CenterCrop,
    ConvertUint8ToFloat,
    Normalize,
    RandomResizedCrop,
    RandomShortSideScaleCrop,
    RemoveKey,
    ShortSideScale,
    UniformTemporalSubsample,
)

_RANDAUG_DEFAULT_PARAS = {
    "magnitude": 9,
    "num_layers": 2,
    "prob": 0.5,
    "transform_hparas": None,
    "sampling_type": "gaussian",
    "sampling_hparas": None,
}
_AUGMIX_DEFAULT_PARAS = {
    "magnitude": 3,
    "alpha": 1.0,
    "width": 3,
    "depth": -1,
    "transform_hparas": None,
    "sampling_hparas": None,
}
_RANDOM_RESIZED_CROP_DEFAULT_PARAS = {"scale": (0.08, 1.0), "aspect_ratio": (3.0 / 4.0, 4.0 / 3.0)}


def _augmentation(aug_type: str, aug_paras: dict[str, Any] | None) -> list[Callable[[Any], Any]]:
    defaults = {"randaug": _RANDAUG_DEFAULT_PARAS, "augmix": _AUGMIX_DEFAULT_PARAS}.get(aug_type)
    if aug_type == "default":
        return []
    if defaults is None:
        raise ConfigError(f"create_video_transform: aug_type must be 'default', 'randaug' or 'augmix', got {aug_type!r}")
    unknown = set(aug_paras or {}) - set(defaults)
    if unknown:
        raise ConfigError(f"create_video_transform: unknown {aug_type} parameters {sorted(unknown)}")
    paras = {**defaults, **(aug_paras or {})}
    cls = RandAugment if aug_type == "randaug" else AugMix
    return [cls(**paras, layout="CTHW")]


def create_video_transform(
    mode: str,
    video_key: str | None = None,
    remove_key: Sequence[str] | None = None,
    num_samples: int | None = 8,
    convert_to_float: bool = True,
    video_mean: Sequence[float] = (0.45, 0.45, 0.45),
    video_std: Sequence[float] = (0.225, 0.225, 0.225),
    min_size: int = 256,
    max_size: int = 320,
    crop_size: int | tuple[int, int] = 224,
    horizontal_flip_prob: float = 0.5,
    aug_type: str = "default",
    aug_paras: dict[str, Any] | None = None,
    random_resized_crop_paras: dict[str, Any] | None = None,
) -> Compose:
    """The standard video pipeline for ``mode`` ``"train"`` (random) or ``"val"`` (deterministic)::

        "train"                                        "val"
        UniformTemporalSubsample(num_samples)          UniformTemporalSubsample(num_samples)
        RandomShortSideScaleCrop(min, max, crop)       ShortSideScale(min_size)
          or RandomResizedCrop(crop, **paras)          CenterCrop(crop_size)
          (both mirror the crop with horizontal_flip_prob)
        RandAugment / AugMix (aug_type)
        ConvertUint8ToFloat (convert_to_float; fused   ConvertUint8ToFloat (convert_to_float)
          into the crop without aug_type)
        Normalize(video_mean, video_std)               Normalize(video_mean, video_std)

    Takes a video ``[C, T, H, W]`` (uint8 pixels when ``convert_to_float``) or,
    with ``video_key``, a sample dict whose ``remove_key`` entries are dropped.
    Unlike PyTorchVideo, the flip also follows ``RandomResizedCrop``.
    """
    if mode not in ("train", "val"):
        raise ConfigError(f"create_video_transform: mode must be 'train' or 'val', got {mode!r}")
    crop = (crop_size, crop_size) if isinstance(crop_size, int) else tuple(crop_size)
    if max(crop) > min_size:
        raise ConfigError(f"create_video_transform: crop_size {crop_size} is larger than min_size {min_size}")
    if video_key is None and remove_key is not None:
        raise ConfigError("create_video_transform: remove_key needs video_key (the input is then a sample dict)")
    if aug_type == "default" and aug_paras is not None:
        raise ConfigError("create_video_transform: aug_paras is only used with aug_type 'randaug' or 'augmix'")

    steps: list[Callable[[Any], Any]] = [] if num_samples is None else [UniformTemporalSubsample(num_samples)]
    augmentation = _augmentation(aug_type, aug_paras)
    if mode == "train":
        # Without RandAugment/AugMix (which want uint8 pixels) the crop is converted to float as it is resized.
        float_crop = convert_to_float and not augmentation
        fused = {"horizontal_flip_prob": horizontal_flip_prob, "convert_to_float": float_crop}
        if random_resized_crop_paras is not None:
            paras = {**_RANDOM_RESIZED_CROP_DEFAULT_PARAS, **random_resized_crop_paras}
            steps.append(RandomResizedCrop(target_height=crop[0], target_width=crop[1], **paras, **fused))
        else:
            steps.append(RandomShortSideScaleCrop(min_size, max_size, crop, **fused))
        steps += augmentation
    else:
        float_crop = False
        steps += [ShortSideScale(min_size), CenterCrop(crop)]
    if convert_to_float and not float_crop:
        steps.append(ConvertUint8ToFloat())
    steps.append(Normalize(video_mean, video_std, inplace=convert_to_float))  # in place on the fresh float copy
    transform = Compose(steps)
    if video_key is None:
        return transform
    return Compose([ApplyTransformToKey(video_key, transform), *(RemoveKey(k) for k in remove_key or ())])
