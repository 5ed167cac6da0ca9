"""CLI: ``faceedit generate`` writes real images from a tiny saved model; ``faceedit convert``."""
import numpy as np
import pytest
import torch

from faceedit.cli import main
from faceedit.images import load_image
from faceedit.io import load_json
from faceedit.models.checkpoints import load_generator, save_model
from faceedit.models.stylegan2 import Generator, seeded_z


@pytest.fixture
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    g = Generator(32, style_dim=32, n_mlp=2, channel_multiplier=1, channel_max=32, model_id="cli-tiny")
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.3)
    return save_model(g, tmp_path / "tiny")


def test_generate_writes_a_real_png(tmp_path, tiny_checkpoint):
    out = tmp_path / "x.png"
    assert main(["generate", "--checkpoint", str(tiny_checkpoint), "--seed", "0", "--out", str(out)]) == 0
    img = load_image(out)
    assert img.shape == (32, 32, 3)
    assert img.std() > 5  # not a constant image
    # deterministic and equal to rendering the model directly
    g = load_generator(tiny_checkpoint)
    z = seeded_z(1, 32, 0)
    with torch.no_grad():
        ref = ((g(z).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(img, ref)


def test_generate_many_truncation_and_preview(tmp_path, tiny_checkpoint):
    out = tmp_path / "many.png"
    assert main(["generate", "--checkpoint", str(tiny_checkpoint), "--seed", "3", "--n", "2", "--truncation",
                 "0.5", "--out", str(out)]) == 0
    a, b = load_image(tmp_path / "many_0000.png"), load_image(tmp_path / "many_0001.png")
    assert a.shape == b.shape == (32, 32, 3) and not np.array_equal(a, b)
    # image i uses seed SEED+i: many_0001 equals a single render with seed 4
    single = tmp_path / "single.png"
    main(["generate", "--checkpoint", str(tiny_checkpoint), "--seed", "4", "--truncation", "0.5",
          "--out", str(single)])
    np.testing.assert_array_equal(load_image(single), b)
    prev = tmp_path / "prev.png"
    assert main(["generate", "--checkpoint", str(tiny_checkpoint), "--channel-ratio", "0.5", "--resolution", "16",
                 "--out", str(prev)]) == 0
    assert load_image(prev).shape == (16, 16, 3)


def test_generate_grid(tmp_path, tiny_checkpoint):
    out = tmp_path / "grid.png"
    assert main(["generate", "--checkpoint", str(tiny_checkpoint), "--n", "4", "--grid", "--out", str(out)]) == 0
    grid = load_image(out)
    assert grid.shape == (2 * 33 + 1, 2 * 33 + 1, 3)  # 2x2 tiles of 32 px with 1 px padding
    single = tmp_path / "s.png"
    main(["generate", "--checkpoint", str(tiny_checkpoint), "--seed", "3", "--out", str(single)])
    np.testing.assert_array_equal(grid[34:66, 34:66], load_image(single))  # tile 3 = seed 3
    assert not (tmp_path / "grid_0000.png").exists()


def test_generate_errors(tmp_path, tiny_checkpoint, capsys):
    assert main(["generate", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "o.png")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["generate", "--checkpoint", str(tiny_checkpoint), "--resolution", "64",
                 "--out", str(tmp_path / "o.png")]) == 1
    assert not (tmp_path / "o.png").exists()


def test_convert_pt_to_safetensors(tmp_path, tiny_checkpoint):
    g = load_generator(tiny_checkpoint)
    pt = tmp_path / "g.pt"
    torch.save({"g_ema": g.state_dict()}, pt)
    assert main(["convert", str(pt), str(tmp_path / "out" / "conv"), "--model-id", "converted"]) == 0
    info = load_json(tmp_path / "out" / "conv.json")
    assert info["model_id"] == "converted" and info["meta"]["source_format"] == "anycost"
    g2 = load_generator(tmp_path / "out" / "conv.safetensors")
    w = torch.randn(1, g.n_latent, g.style_dim)
    with torch.no_grad():
        torch.testing.assert_close(g2.synthesis(w), g.synthesis(w), rtol=0, atol=0)


def test_generate_renders_saved_latents(tmp_path, tiny_checkpoint, capsys):
    g = load_generator(tiny_checkpoint)
    w = torch.randn(2, g.n_latent, g.style_dim, generator=torch.Generator().manual_seed(5))
    np.save(tmp_path / "a.npy", w[0].numpy())
    np.save(tmp_path / "b.npy", w[1, 0].numpy())  # one W row: broadcast to every layer
    out = tmp_path / "r.png"
    assert main(["generate", "--checkpoint", str(tiny_checkpoint), "--latent", str(tmp_path / "a.npy"),
                 str(tmp_path / "b.npy"), "--out", str(out)]) == 0
    with torch.no_grad():
        ref = g.synthesis(torch.stack([w[0], w[1, :1].expand(g.n_latent, -1)]))
    ref = ((ref.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(load_image(tmp_path / "r_0000.png"), ref[0])
    np.testing.assert_array_equal(load_image(tmp_path / "r_0001.png"), ref[1])
    np.save(tmp_path / "bad.npy", np.zeros((3, 3), np.float32))
    assert main(["generate", "--checkpoint", str(tiny_checkpoint), "--latent", str(tmp_path / "bad.npy"),
                 "--out", str(tmp_path / "bad.png")]) == 1
    assert "does not fit" in capsys.readouterr().err
    assert not (tmp_path / "bad.png").exists()


def test_generate_reads_every_latent_layout_and_refuses_nan(tmp_path, tiny_checkpoint, capsys):
    g = load_generator(tiny_checkpoint)
    w = torch.randn(g.n_latent, g.style_dim, generator=torch.Generator().manual_seed(7)).numpy()
    np.save(tmp_path / "plain.npy", w)
    np.save(tmp_path / "batch.npy", w[None])  # gan-face-editing's (1, n_latent, style_dim)
    assert main(["generate", "--checkpoint", str(tiny_checkpoint), "--latent", str(tmp_path / "plain.npy"),
                 str(tmp_path / "batch.npy"), "--out", str(tmp_path / "r.png")]) == 0
    np.testing.assert_array_equal(load_image(tmp_path / "r_0000.png"), load_image(tmp_path / "r_0001.png"))
    capsys.readouterr()
    w[3, 5] = np.nan
    np.save(tmp_path / "nan.npy", w[None])
    assert main(["generate", "--checkpoint", str(tiny_checkpoint), "--latent", str(tmp_path / "nan.npy"),
                 "--out", str(tmp_path / "nan.png")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path / 'nan.npy'}: the latent has NaN or infinite values (a latent is finite, "
                   f"({g.n_latent}, {g.style_dim}), (1, {g.n_latent}, {g.style_dim}), ({g.style_dim},) or "
                   f"(1, {g.style_dim}))"]
    assert not (tmp_path / "nan.png").exists()
