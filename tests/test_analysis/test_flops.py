"""FLOP counts of single mixers against hand counts, and the get_flops tool."""
import os
import subprocess
import sys

import pytest
import torch

from mmsola.analysis import count_complexity
from mmsola.models.attention import (MagnitudeAwareLinearAttention, RotaryEmbedding2d,
                                     SoftmaxAttention)


class MixerWithRotary(torch.nn.Module):

    def __init__(self, mixer, height, width):
        super().__init__()
        self.mixer = mixer
        self.table = RotaryEmbedding2d(mixer.head_dims)(height, width, torch.device('cpu'))

    def forward(self, x):
        return self.mixer(x, self.table)


@pytest.mark.parametrize('mixer_cls', [MagnitudeAwareLinearAttention, SoftmaxAttention])
def test_single_mixer_matches_hand_count(mixer_cls):
    channels, heads, height, width = 64, 2, 12, 10
    tokens, dims = height * width, channels // heads
    shell = (tokens * channels * 4 * channels  # q, k, v, gate projection
             + tokens * channels * 25  # 5 x 5 depthwise LePE
             + tokens * channels * channels)  # output projection
    if mixer_cls is SoftmaxAttention:
        core = heads * tokens * tokens * dims * 2  # q k^T and weights @ v
    else:
        core = heads * (tokens * dims  # z = phi(q) . mean phi(k)
                        + dims * tokens * dims  # state = phi(k)^T v
                        + tokens * dims * dims)  # phi(q) @ state
    module = MixerWithRotary(mixer_cls(channels, heads), height, width)
    counted = count_complexity(module, (torch.randn(1, height, width, channels), ))['flops']
    assert counted == pytest.approx(shell + core, rel=0.01)


def test_get_flops_tool_reports_model_and_backbone(repo_root, tmp_path):
    import json
    results = {}
    for part, extra in (('model', []), ('backbone', ['--backbone'])):
        out_json = tmp_path / f'{part}.json'
        out = subprocess.run(
            [sys.executable, os.path.join(repo_root, 'tools', 'analysis_tools', 'get_flops.py'),
             os.path.join(repo_root, 'configs', 'demo', 'upernet_sola-mini_shapes.py'),
             '--shape', '64', '96', '--json', str(out_json)] + extra,
            capture_output=True, text=True, check=True).stdout
        assert f'{part} of ' in out and 'input 1 x 3 x 64 x 96' in out
        results[part] = json.loads(out_json.read_text())
        assert results[part]['part'] == part
    backbone, model = results['backbone'], results['model']
    assert 0 < backbone['params'] < model['params']
    assert 0 < backbone['flops'] < model['flops']
