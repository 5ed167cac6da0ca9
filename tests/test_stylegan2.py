"""StyleGAN2 generator/discriminator: conformance with anycost-gan, key layout, preview, cache, threads."""
import threading

import pytest
import torch

from faceedit.models.stylegan2 import Discriminator, Generator, SynthesisCache, channel_widths
from faceedit.models.upfirdn import make_kernel, upfirdn2d, upfirdn2d_reference
from faceedit.testing import conformance_dir, read_key_file

TOL = dict(rtol=1e-4, atol=1e-4)


pytestmark = pytest.mark.usefixtures("one_thread")


def _fixture(name):
    path = conformance_dir() / name
    if not path.is_file():
        pytest.skip(f"conformance fixture {path} not found")
    return torch.load(path, map_location="cpu")


@pytest.fixture(scope="module")
def tiny():
    ck = _fixture("anycost_tiny_generator.pt")
    g = Generator(**ck["config"])
    g.load_state_dict(ck["g_ema"])
    return g.eval()


@pytest.fixture(scope="module")
def io():
    return _fixture("anycost_tiny_io.pt")


@torch.no_grad()
def test_mapping_matches_reference(tiny, io):
    torch.testing.assert_close(tiny.mapping(io["z"]), io["w"], **TOL)


@torch.no_grad()
def test_w_input_with_constant_noise(tiny, io):
    torch.testing.assert_close(tiny.synthesis(io["w"][:, 0]), io["img_w"], **TOL)
    torch.testing.assert_close(tiny(io["w"], input_is_style=True), io["img_w"], **TOL)


@torch.no_grad()
def test_wplus_and_per_resolution_rgbs(tiny, io):
    img, rgbs = tiny.synthesis(io["wplus"], return_rgbs=True)
    torch.testing.assert_close(img, io["img_wplus"], **TOL)
    assert len(rgbs) == len(io["rgbs_wplus"]) == 5
    for ours, ref in zip(rgbs, io["rgbs_wplus"]):
        torch.testing.assert_close(ours, ref, **TOL)


@torch.no_grad()
def test_truncation(tiny, io):
    img = tiny(io["z"], truncation=0.7, truncation_style=io["trunc_mean"])
    torch.testing.assert_close(img, io["img_z_trunc0.7"], **TOL)


@torch.no_grad()
def test_channel_ratio_subgenerator_and_early_stop(tiny, io):
    assert tiny.sub_channels(0.5) == {4: 64, 8: 64, 16: 64, 32: 64, 64: 32}
    torch.testing.assert_close(tiny.synthesis(io["wplus"], channel_ratio=0.5), io["img_wplus_ratio0.5"], **TOL)
    torch.testing.assert_close(tiny.synthesis(io["wplus"], channel_ratio=0.5, resolution=32),
                               io["img_wplus_ratio0.5_res32"], **TOL)
    torch.testing.assert_close(tiny.synthesis(io["wplus"], resolution=16), io["img_wplus_res16"], **TOL)


@torch.no_grad()
def test_single_sample_path_equals_batch_path(tiny, io):
    """N=1 folds the modulation into the weights; N>1 scales activations: same numbers."""
    batch = tiny.synthesis(io["wplus"])
    for i in range(3):
        torch.testing.assert_close(tiny.synthesis(io["wplus"][i:i + 1]), batch[i:i + 1], rtol=1e-4, atol=5e-5)


def test_config_f_1024_key_layout_on_meta_device():
    ref = read_key_file(conformance_dir() / "stylegan2_ffhq_config_f_1024_g_ema_keys.txt")
    with torch.device("meta"):
        g = Generator(1024)
    ours = [(k, tuple(v.shape)) for k, v in g.state_dict().items()]
    assert ours == ref
    assert sum(v.numel() for v in g.state_dict().values()) == 33_166_492
    assert g.n_latent == 18 and g.num_layers == 17


def test_channel_widths_config_f():
    assert channel_widths(1024) == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64,
                                    1024: 32}


def test_upfirdn_fast_paths_equal_definition():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 9, generator=g)
    k = torch.rand(4, 4, generator=g)
    for up, down, pad in [(2, 1, (2, 1)), (2, 2, (1, 1)), (1, 1, (1, 1)), (1, 2, (2, 1)), (2, 1, (-1, 3))]:
        torch.testing.assert_close(upfirdn2d(x, k, up, down, pad), upfirdn2d_reference(x, k, up, down, pad))
    # the blur kernel sums to one: a constant image stays constant inside
    flat = upfirdn2d(torch.ones(1, 1, 8, 8), make_kernel([1, 3, 3, 1]), pad=(1, 1))
    torch.testing.assert_close(flat[..., 1:-1, 1:-1], torch.ones(1, 1, 5, 5))


@torch.no_grad()
def test_preview_does_not_mutate_module(tiny, io):
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    full = tiny.synthesis(io["wplus"])
    tiny.synthesis(io["wplus"], channel_ratio=0.25, resolution=16)
    tiny.synthesis(io["wplus"], noise_mode="random")
    after = tiny.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    torch.testing.assert_close(tiny.synthesis(io["wplus"]), full, rtol=0, atol=0)


@torch.no_grad()
def test_noise_modes_differ(tiny, io):
    w = io["wplus"][:1]
    const = tiny.synthesis(w)
    assert not torch.allclose(tiny.synthesis(w, noise_mode="none"), const)
    torch.manual_seed(0)
    r1 = tiny.synthesis(w, noise_mode="random")
    torch.manual_seed(0)
    torch.testing.assert_close(tiny.synthesis(w, noise_mode="random"), r1)
    assert not torch.allclose(r1, const)
    with pytest.raises(ValueError):
        tiny.synthesis(w, noise_mode="bogus")


def test_bad_shapes_raise(tiny):
    with pytest.raises(ValueError):
        tiny.synthesis(torch.zeros(1, 7, 64))
    with pytest.raises(ValueError):
        tiny.synthesis(torch.zeros(1, 10, 32))
    with pytest.raises(ValueError):
        tiny.synthesis(torch.zeros(1, 10, 64), resolution=128)
    with pytest.raises(ValueError):
        Generator(48)


def test_threads_rendering_different_ratios_match_serial(tiny, io):
    w = io["wplus"][:1]
    settings = [(1.0, None), (0.25, 32), (0.5, None), (0.75, 16)] * 2
    with torch.no_grad():
        serial = [tiny.synthesis(w, channel_ratio=r, resolution=s) for r, s in settings]
    results = [None] * len(settings)

    def work(i):
        with torch.no_grad():
            results[i] = tiny.synthesis(w, channel_ratio=settings[i][0], resolution=settings[i][1])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(settings))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(results, serial):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_cache_equals_full_recomputation(tiny, io):
    cache = SynthesisCache(tiny)
    w = io["wplus"][:1].clone()
    with torch.no_grad():
        first = cache.render(w)
        assert cache.last_reused_layers == 0
        torch.testing.assert_close(first, tiny.synthesis(w), rtol=0, atol=0)
        for k in (9, 6, 3, 1, 0):
            w2 = w.clone()
            w2[:, k:] += 0.5 * torch.randn_like(w2[:, k:])
            cached = cache.render(w2)
            full = tiny.synthesis(w2)
            torch.testing.assert_close(cached, full, rtol=0, atol=0)
            assert not torch.equal(cached, first)
            # layers before the first reader of row k are reused
            expected = next(i for i, layer in enumerate(tiny.layers) if layer.row >= k)
            assert cache.last_reused_layers == expected
            w = w2
        # the same W+ again: everything is reused, same image
        again = cache.render(w)
        assert cache.last_reused_layers == len(tiny.layers)
        torch.testing.assert_close(again, tiny.synthesis(w), rtol=0, atol=0)
        # another preview setting invalidates the cache but still renders right
        prev = cache.render(w, channel_ratio=0.5, resolution=32)
        assert cache.last_reused_layers == 0
        torch.testing.assert_close(prev, tiny.synthesis(w, channel_ratio=0.5, resolution=32), rtol=0, atol=0)


def test_discriminator_layout_features_and_logits():
    torch.manual_seed(0)
    d = Discriminator(32, channel_multiplier=1, channel_max=32)
    keys = list(d.state_dict())
    assert keys[:4] == ["convs.0.0.weight", "convs.0.1.bias", "convs.1.conv1.0.weight", "convs.1.conv1.1.bias"]
    assert "final_conv.0.weight" in keys and "final_linear.1.weight" in keys
    x = torch.randn(4, 3, 32, 32)
    feats = d.features(x)
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4]
    out = d(x)
    assert out.shape == (4, 1) and torch.isfinite(out).all()
    out.sum().backward()
    assert d.convs[0][0].weight.grad.abs().sum() > 0
    with torch.device("meta"):
        big = Discriminator(1024)
    assert sum(p.numel() for p in big.parameters()) == 29_012_513


def test_generator_trains_with_autograd(tiny, io):
    w = io["wplus"][:2].clone().requires_grad_(True)
    img = tiny.synthesis(w)
    img.square().mean().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_seeded_z_does_not_line_up_with_the_mapping_weights():
    """Seeded latents come from numpy's stream, not torch's: a model built after torch.manual_seed(s) has
    first mapping-layer weights equal to torch's stream-s normal rows, and z drawn from that stream would
    point straight along them (cosine 1), far outside the learned W distribution."""
    from faceedit.models.stylegan2 import Generator, seeded_z

    torch.manual_seed(0)
    G = Generator(16, style_dim=32, n_mlp=2, channel_multiplier=0.0078125, channel_max=16)
    W = G.style[1].weight.detach()
    torch_z = torch.randn(32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.nn.functional.cosine_similarity(torch_z, W, dim=1).mean() > 0.99  # the trap the helper avoids
    z = seeded_z(32, 32, 0)
    assert z.dtype == torch.float32 and z.shape == (32, 32)
    assert torch.nn.functional.cosine_similarity(z, W, dim=1).abs().max() < 0.7
    torch.testing.assert_close(seeded_z(4, 32, 0), z[:4])  # rows are a prefix-stable stream
    assert not torch.equal(seeded_z(4, 32, 1), z[:4])
    assert abs(float(seeded_z(4096, 32, 3).std()) - 1) < 0.02
