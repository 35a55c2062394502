"""The CUDA paths: run where a GPU is present, skipped elsewhere (as mmdet's backbone tests do).

`bash scripts/gpu_check.sh` runs these and the GPU benchmark in a few minutes on a lent GPU.
"""
import os
import subprocess
import sys

import pytest
import torch

from mmsola.models import SoLAVision
from mmsola.models.attention import magnitude_aware_linear_attention
from mmsola.models.attention.rotary import RotaryEmbedding2d

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINI = dict(embed_dims=(32, 32, 64, 64), depths=(1, 2, 3, 2), num_heads=(1, 1, 2, 2))
# Relative error of autocast outputs against float32 (fp16 keeps 10 mantissa bits, bf16 7).
TOLERANCE = {torch.float16: 0.02, torch.bfloat16: 0.08}


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual.float() - expected).norm() / expected.norm()).item()


def test_backbone_forward_and_backward_in_float32(monkeypatch):
    # cuDNN convolutions default to TF32 on Ampere and later (relative error ~6e-4 on an H200)
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
    monkeypatch.setattr(torch.backends.cuda.matmul, 'allow_tf32', False)
    torch.manual_seed(0)
    model = SoLAVision(arch=MINI, out_indices=(0, 1, 2, 3))
    x = torch.randn(2, 3, 96, 80)
    expected = [o.detach() for o in model(x)]
    cuda_model = model.cuda()
    outputs = cuda_model(x.cuda())
    for out, ref in zip(outputs, expected):
        assert relative_error(out.cpu(), ref) < 1e-4
    sum(o.square().mean() for o in outputs).backward()
    assert all(torch.isfinite(p.grad).all() for p in cuda_model.parameters()
               if p.grad is not None)


# The default layer-wise layout, and the MALA / RAVLT architectures of configs/mala, configs/ravlt.
FAMILY_OPTIONS = {
    'sola': dict(),
    'mala': dict(layout='stage', mixers=dict(L=dict(type='mmsola.MagnitudeAwareLinearAttention',
                                                    normaliser='unrotated')),
                 rotary_cfg=dict(freq_exponents='linspace'), early_fusion=False),
    'ravlt': dict(layout='R,RR,SSS,SS', rotary_cfg=dict(freq_exponents='linspace'),
                  early_fusion=False),
}


@pytest.mark.parametrize('family', sorted(FAMILY_OPTIONS))
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_autocast_matches_float32(dtype, family):
    torch.manual_seed(0)
    model = SoLAVision(arch=MINI, out_indices=(0, 1, 2, 3),
                       **FAMILY_OPTIONS[family]).cuda().eval()
    x = torch.randn(2, 3, 128, 96, device='cuda') * 4
    with torch.no_grad():
        expected = model(x)
        with torch.autocast('cuda', dtype=dtype):
            outputs = model(x)
    for out, ref in zip(outputs, expected):
        assert torch.isfinite(out).all()
        assert relative_error(out, ref) < TOLERANCE[dtype]


@pytest.mark.parametrize('family', sorted(FAMILY_OPTIONS))
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_autocast_backward_is_finite(dtype, family):
    model = SoLAVision(arch=MINI, out_indices=(0, 1, 2, 3),
                       **FAMILY_OPTIONS[family]).cuda().train()
    x = torch.randn(2, 3, 96, 96, device='cuda')
    with torch.autocast('cuda', dtype=dtype):
        loss = sum(o.float().square().mean() for o in model(x))
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_linear_attention_memory_grows_linearly_with_tokens():
    """The MALA core never holds an N x N matrix: peak extra memory ~ N, not N^2."""
    rotary = RotaryEmbedding2d(64)
    peaks = {}
    for side in (64, 128):
        q, k, v = (torch.randn(1, 1, side * side, 64, device='cuda') for _ in range(3))
        table = rotary(side, side, q.device)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        magnitude_aware_linear_attention(q, k, v, table)
        torch.cuda.synchronize()
        peaks[side] = torch.cuda.max_memory_allocated() - base
    # 4x the tokens: linear memory grows ~4x; an N x N matrix would grow 16x.
    assert peaks[128] < 6 * peaks[64], peaks


def test_train_tool_amp_iteration_of_the_demo_detector(tmp_path):
    from mmsola.datasets import generate_shapes
    from test_tasks.conftest import DEMO_CONFIGS, MINIATURE
    generate_shapes(str(tmp_path / 'data' / 'shapes'), MINIATURE)
    out = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, 'tools', 'train.py'), DEMO_CONFIGS['det'],
         '--amp', '--work-dir', str(tmp_path / 'work'), '--cfg-options', 'train_cfg.max_iters=1',
         'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1'],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / 'work' / 'iter_1.pth').is_file()


@pytest.mark.parametrize('family', ['mala', 'ravlt'])
def test_converted_family_matches_official_outputs_on_cuda(family, monkeypatch):
    """The CPU equivalence test of tests/test_models/test_mala_family.py, on the GPU (no TF32)."""
    from test_models import test_mala_family as equivalence
    from mmsola.models.converters import convert_family_checkpoint
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
    monkeypatch.setattr(torch.backends.cuda.matmul, 'allow_tf32', False)
    reference = torch.load(equivalence.REFERENCE, weights_only=True)
    converted, _ = convert_family_checkpoint(dict(model=reference['model']), family,
                                             num_heads=reference['config']['num_heads'])
    model = equivalence.build_classifier(family, reference)
    model.load_state_dict(converted)
    model.cuda()
    for size in equivalence.SIZES:
        with torch.no_grad():
            logits = model(equivalence.reference_input(reference, size).cuda(), mode='tensor')
        want = reference['outputs'][family][size]['logits']
        assert (logits.cpu() - want).abs().max().item() <= equivalence.TOLERANCE
