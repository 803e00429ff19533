"""The model zoo: PyTorchVideo's architectures (same builders, same state_dicts) and MoViNet.

``create_model("x3d_s", num_classes=..., pretrained=...)`` and
``list_models("x3d*")`` work over :data:`MODELS`; each family module
registers its hub entries on import, so importing this package fills the zoo.
"""

from vidray.models import hub  # importing the families registers their hub entries
from vidray.models.audio_visual_slowfast import create_audio_visual_slowfast
from vidray.models.checkpoint import load_checkpoint, load_pretrained, load_weights, save_checkpoint
from vidray.models.csn import create_csn
from vidray.models.efficient_x3d import EfficientX3d
from vidray.models.factory import create_model, list_models
from vidray.models.head import (
    ResNetBasicHead,
    ResNetRoIHead,
    SequencePool,
    VisionTransformerBasicHead,
    create_res_basic_head,
    create_res_roi_pooling_head,
    create_vit_basic_head,
)
from vidray.models.introspection import count_flops, count_gflops, count_parameters
from vidray.models.movinet import MoViNet, MoViNetStream, create_movinet
from vidray.models.net import DetectionBBoxNetwork, MultiPathWayWithFuse, Net
from vidray.models.r2plus1d import create_2plus1d_bottleneck_block, create_r2plus1d
from vidray.models.registry import MODELS, InputSpec, ModelSpec, PathwaySpec, model_spec, register_model
from vidray.models.resnet import (
    BottleneckBlock,
    ResBlock,
    ResStage,
    SeparableBottleneckBlock,
    create_acoustic_bottleneck_block,
    create_acoustic_resnet,
    create_bottleneck_block,
    create_res_block,
    create_res_stage,
    create_resnet,
    create_resnet_with_roi_head,
)
from vidray.models.slowfast import create_slowfast, create_slowfast_with_roi_head
from vidray.models.stem import (
    PatchEmbed,
    ResNetBasicStem,
    create_acoustic_res_basic_stem,
    create_conv_patch_embed,
    create_res_basic_stem,
)
from vidray.models.vision_transformers import MultiscaleVisionTransformers, create_multiscale_vision_transformers
from vidray.models.x3d import (
    ProjectedPool,
    create_x3d,
    create_x3d_bottleneck_block,
    create_x3d_head,
    create_x3d_res_block,
    create_x3d_res_stage,
    create_x3d_stem,
)

__all__ = [
    "MODELS", "BottleneckBlock", "DetectionBBoxNetwork", "EfficientX3d", "InputSpec", "ModelSpec", "MoViNet",
    "MoViNetStream", "MultiPathWayWithFuse", "MultiscaleVisionTransformers", "Net", "PatchEmbed", "PathwaySpec",
    "ProjectedPool", "ResBlock", "ResNetBasicHead", "ResNetBasicStem", "ResNetRoIHead", "ResStage",
    "SeparableBottleneckBlock", "SequencePool", "VisionTransformerBasicHead", "count_flops", "count_gflops",
    "count_parameters", "create_2plus1d_bottleneck_block", "create_acoustic_bottleneck_block",
    "create_acoustic_res_basic_stem", "create_acoustic_resnet", "create_audio_visual_slowfast",
    "create_bottleneck_block", "create_conv_patch_embed", "create_csn", "create_model", "create_movinet",
    "create_multiscale_vision_transformers", "create_r2plus1d", "create_res_basic_head", "create_res_basic_stem",
    "create_res_block", "create_res_roi_pooling_head", "create_res_stage", "create_resnet",
    "create_resnet_with_roi_head", "create_slowfast", "create_slowfast_with_roi_head", "create_vit_basic_head",
    "create_x3d", "create_x3d_bottleneck_block", "create_x3d_head", "create_x3d_res_block", "create_x3d_res_stage",
    "create_x3d_stem", "hub", "list_models", "load_checkpoint", "load_pretrained", "load_weights", "model_spec",
    "register_model", "save_checkpoint",
]  # fmt: skip
