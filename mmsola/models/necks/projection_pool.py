"""Classification neck of the MALA/RAVLT family: project, normalise, activate, then pool."""
from typing import Optional, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from mmsola.registry import MODELS


@MODELS.register_module()
class ProjectionPoolNeck(BaseModule):
    """1 x 1 convolution to a wider feature, norm and activation, then global average pooling.

    The last stage of the family's backbones is projected (512 -> 1024 for tiny) before pooling,
    which gives the linear classifier a wider input at little cost.

    Args:
        in_channels: channels of the backbone's last output.
        out_channels: channels after the projection.
        norm_cfg: norm after the projection.
        act_cfg: activation after the norm.

    Shapes:
        forward: tuple of (B, C_in, H, W), the last used -> tuple of one (B, out_channels).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 1024,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='SiLU'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.projection = ConvModule(
            in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor]:
        if not isinstance(inputs, (tuple, list)):
            inputs = (inputs, )
        return (self.projection(inputs[-1]).mean(dim=(2, 3)), )
