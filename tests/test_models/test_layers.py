"""The folded forms in mmsola.models.layers against the written-out ones, values and gradients."""
import pytest
import torch
import torch.nn as nn

from mmsola.models.layers import activate, residual_depthwise_conv, scaled_linear


def _grads(output, *tensors):
    return torch.autograd.grad(output.square().sum(), tensors)


@pytest.mark.parametrize('bias', [True, False])
def test_scaled_linear_is_layer_scale_after_the_projection(bias):
    torch.manual_seed(0)
    linear = nn.Linear(6, 5, bias=bias).double()
    scale = torch.randn(5, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 3, 4, 6, dtype=torch.float64, requires_grad=True)
    folded = scaled_linear(x, linear, scale)
    written_out = scale * linear(x)
    torch.testing.assert_close(folded, written_out)
    params = (x, scale, *linear.parameters())
    for a, b in zip(_grads(folded, *params), _grads(written_out, *params)):
        torch.testing.assert_close(a, b)
    assert scaled_linear(x, linear, None).equal(linear(x))


@pytest.mark.parametrize('kernel_size', [3, 5])
def test_residual_depthwise_conv_adds_the_input(kernel_size):
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 4, kernel_size, padding=kernel_size // 2, groups=4).double()
    x = torch.randn(2, 4, 7, 9, dtype=torch.float64, requires_grad=True)
    channels_last = x.detach().to(memory_format=torch.channels_last).requires_grad_()
    for inputs in (x, channels_last):
        folded = residual_depthwise_conv(inputs, conv)
        written_out = inputs + conv(inputs)
        torch.testing.assert_close(folded, written_out)
        params = (inputs, *conv.parameters())
        for a, b in zip(_grads(folded, *params), _grads(written_out, *params)):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize('bias', [True, False])
def test_scaled_linear_adds_into_the_residual_in_place_only_without_a_graph(bias):
    torch.manual_seed(0)
    linear = nn.Linear(6, 5, bias=bias).double()
    scale = torch.randn(5, dtype=torch.float64)
    x = torch.randn(2, 3, 4, 6, dtype=torch.float64)
    residual = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    expected = residual + scale * linear(x)
    with torch.no_grad():
        own = residual.clone()
        out = scaled_linear(x, linear, scale, own)
    assert out is own  # accumulated in place, no new tensor
    torch.testing.assert_close(out, expected.detach())
    # with a graph: a new tensor, the residual untouched, gradients as written out
    kept = residual.clone()
    out = scaled_linear(x, linear, scale, kept)
    assert out is not kept and kept.equal(residual)
    torch.testing.assert_close(out, expected)
    params = tuple(linear.parameters())
    for a, b in zip(_grads(out, *params), _grads(expected, *params)):
        torch.testing.assert_close(a, b)


def test_activate_runs_gelu_in_place_only_without_a_graph():
    gelu = nn.GELU(approximate='tanh')
    x = torch.randn(4, 7)
    with torch.no_grad():
        own = x.clone()
        assert activate(gelu, own) is own
    torch.testing.assert_close(own, gelu(x))
    x.requires_grad_()
    out = activate(gelu, x)
    assert out is not x and out.grad_fn is not None
    own = x.detach().clone()
    with torch.no_grad():
        out = activate(nn.ReLU(), own)  # other activations: the module itself, not in place
    assert out is not own and out.equal(own.relu())
