"""Shortcut mode float32: config, training, the deployed float path bit for bit against numpy
float32 (DESIGN.md's op order), export + qonnx execution with tolerance 0, bad input."""
import numpy as np
import pytest
import torch
from torch import nn

from model import BiRealError, bireal
from model.cli import main
from model.deploy import deploy
from model.export import export_model, verify_onnx
from model.float_path import FloatAffine
from model.nets import QuantConfig
from model.quant import Float32, mode_name, shortcut_mode

f32 = np.float32


def _net(arch="bireal-tiny", seed=0, n=8):
    torch.manual_seed(seed)
    net = bireal(arch, shortcut="float32")
    g = torch.Generator().manual_seed(seed)
    s = net.spec
    x = torch.randint(0, 256, (n, s.in_ch, s.in_size, s.in_size), generator=g) / 256.0
    net.train()
    with torch.no_grad():                       # non-trivial BN statistics
        for _ in range(3):
            net(x)
    with torch.no_grad():                       # and non-trivial gamma / beta
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(-1.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return net.eval(), x


def _bits(a):
    return np.ascontiguousarray(a, dtype=f32).view(np.uint32)


def _conv_int(s, w, stride):
    """Exact integer conv (int64), s: (N, C, H, W) already padded."""
    n, c, h, wd = s.shape
    co, _, k, _ = w.shape
    ho, wo = (h - k) // stride + 1, (wd - k) // stride + 1
    out = np.zeros((n, co, ho, wo), np.int64)
    for i in range(k):
        for j in range(k):
            patch = s[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out


def numpy_block(blk, x, mutate=None):
    """The deployed float block in numpy float32, DESIGN.md's order:
    s = where(x >= 0, +1, -1); c = conv(pad_-1(s), sign W); y = c*a; y = y+b; out = y + r."""
    x = x.astype(f32)
    a = blk.conv.requant.a.numpy()
    b = blk.conv.requant.b.numpy()
    w = blk.conv.conv.weight.detach().numpy().astype(np.int64)
    s = np.pad(np.where(x >= 0, 1, -1).astype(np.int64), ((0, 0), (0, 0), (1, 1), (1, 1)),
               constant_values=-1)
    c = _conv_int(s, w, blk.conv.conv.stride[0]).astype(f32)
    if blk.downsample is None:
        r = x
    else:
        q = np.clip(np.rint(x * f32(16)), -128, 127)              # int8, scale 2**-4
        pooled = q.reshape(q.shape[0], q.shape[1], q.shape[2] // 2, 2, -1, 2).sum((3, 5))
        dconv = blk.downsample[2]
        wd = dconv.conv.weight.detach().numpy().astype(np.int64)
        cd = _conv_int(pooled.astype(np.int64), wd, 1).astype(f32) * f32(2.0 ** -6)
        r = cd * dconv.requant.a.numpy()
        r = r + dconv.requant.b.numpy()
    if mutate == "reassociate":                                   # (c*a) + (b + r)
        return c * a + (b + r)
    y = c * a
    y = y + b
    return y + r


def test_config_roundtrip_and_names():
    q = QuantConfig(shortcut=Float32())
    d = q.to_dict()
    assert d["shortcut"] == {"kind": "float32", "bits": 8, "frac": 4}
    assert QuantConfig.from_dict(d) == q
    assert mode_name(q.shortcut) == "float32" and mode_name(QuantConfig().shortcut) == "fixed8"
    # the fixed default is unchanged (checkpoints written before keep loading)
    assert QuantConfig().to_dict()["shortcut"] == {"kind": "fixed", "bits": 8, "frac": 4}
    with pytest.raises(BiRealError, match="'float16'.*fixed8, float32"):
        shortcut_mode("float16")


def test_float_model_has_no_requant_on_the_float_path():
    net, x = _net()
    blk = net.blocks[2]                          # downsample block
    assert isinstance(blk.requant, nn.Identity) and isinstance(blk.add_quant, nn.Identity)
    assert isinstance(net.stem.requant, nn.Identity)
    with torch.no_grad():
        stem = net.stem(net.input_quant(x))
    # stem output is float, not a multiple of 2**-4
    assert not torch.equal(stem * 16, (stem * 16).round())


def recipe_constants(bn, w_scale):
    """DESIGN.md's fold, written out again in numpy float32 (one rounding per op)."""
    var, mean = bn.running_var.numpy().astype(f32), bn.running_mean.numpy().astype(f32)
    gamma, beta = bn.weight.detach().numpy().astype(f32), bn.bias.detach().numpy().astype(f32)
    invstd = f32(1) / np.sqrt(var + f32(bn.eps))
    g = gamma * invstd
    return g * np.asarray(w_scale, np.float64).astype(f32), beta - mean * g


@pytest.mark.parametrize("i", [0, 2, 3])          # plain, downsample (stride 2), plain
def test_deployed_float_block_equals_numpy_float32_bit_for_bit(i):
    net, _ = _net()
    dep = deploy(net)
    blk = dep.blocks[i]
    w = net.blocks[i].conv.conv.weight.detach().double()
    a, b = recipe_constants(net.blocks[i].bn, w.abs().mean(dim=(1, 2, 3)).numpy())
    assert np.array_equal(_bits(blk.conv.requant.a.numpy().ravel()), _bits(a))
    assert np.array_equal(_bits(blk.conv.requant.b.numpy().ravel()), _bits(b))
    cin = blk.conv.conv.weight.shape[1]
    size = 14 if i <= 2 else 7
    g = np.random.default_rng(i)
    x = (g.standard_normal((4, cin, size, size)) * 2).astype(f32)
    x[0, 0, 0, :3] = [0.0, -0.0, 1e-30]           # sign(+-0) = +1 (x >= 0)
    with torch.no_grad():
        got = blk(torch.from_numpy(x)).numpy()
    want = numpy_block(blk, x)
    assert np.array_equal(_bits(got), _bits(want))
    # mutation: reassociating to (c*a) + (b+x) is detected
    bad = numpy_block(blk, x, "reassociate")
    assert (_bits(got) != _bits(bad)).mean() > 0.01


def test_alpha_in_conv_and_textbook_bn_differ_from_the_deployed_order():
    """Mutations of the deployed affine: alpha scaled inside the conv weights followed by the
    textbook BN (x - m) / sqrt(v + eps) * w + b, or by nn.BatchNorm2d (eval), is not
    bit-equal to the shipped c*a + b (DESIGN.md: 22-80 %)."""
    net, _ = _net()
    dep = deploy(net)
    blk, src = dep.blocks[0], net.blocks[0]
    x = torch.from_numpy((np.random.default_rng(0).standard_normal((4, 48, 14, 14)) * 2)
                         .astype(f32))
    with torch.no_grad():
        want = blk.conv(x).numpy()
        s = nn.functional.pad(torch.where(x >= 0, 1.0, -1.0), (1, 1, 1, 1), value=-1.0)
        w = src.conv.conv.weight
        alpha = w.abs().mean(dim=(1, 2, 3), keepdim=True)
        c_alpha = nn.functional.conv2d(s, torch.where(w >= 0, 1.0, -1.0) * alpha)
        bn = src.bn
        textbook = ((c_alpha - bn.running_mean.view(1, -1, 1, 1))
                    / torch.sqrt(bn.running_var.view(1, -1, 1, 1) + bn.eps)
                    * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1))
        # nn.BatchNorm2d's eval kernel at deploy, on the alpha-scaled conv (47 % of the
        # outputs differ on this AVX512 CPU; the double rounding c*alpha, then BN's own fold,
        # differs on any kernel)
        kernel = bn(c_alpha)
    assert (_bits(textbook.numpy()) != _bits(want)).mean() > 0.01
    assert (_bits(kernel.numpy()) != _bits(want)).mean() > 0.01


def test_float_checks_name_the_layer():
    aff = FloatAffine(np.array([2.0 ** -130], f32), np.array([0.0], f32), 0, "blocks.7.conv")
    with pytest.raises(BiRealError, match="blocks.7.conv.*subnormal"):
        aff(torch.ones(1, 1, 2, 2))
    with pytest.raises(BiRealError, match="blocks.7.conv.*NaN or inf"):
        FloatAffine(np.array([1.0], f32), np.array([np.inf], f32), 0, "blocks.7.conv")(
            torch.ones(1, 1, 1, 1))
    with pytest.raises(BiRealError, match="stem.*not an integer multiple of 2\\*\\*-8"):
        FloatAffine(np.ones(1, f32), np.zeros(1, f32), 8, "stem")(torch.full((1, 1, 1, 1), 0.1))
    with pytest.raises(BiRealError, match="2\\*\\*24"):
        FloatAffine(np.ones(1, f32), np.zeros(1, f32), 0, "x")(torch.full((1, 1, 1, 1), 2.0 ** 24))


def test_qonnx_bipolar_quant_maps_minus_zero_to_plus_one():
    from qonnx.custom_op.general.bipolar_quant import binary_quant
    x = np.array([-0.0, 0.0, -1e-45, 1e-45, np.nan], f32)
    assert binary_quant(x, f32(1)).tolist()[:4] == [1, 1, -1, 1]
    assert binary_quant(x, f32(1))[4] == -1               # NaN -> -1, as torch.where(x >= 0)


def test_export_float_is_exact_and_has_explicit_mul_add(tmp_path):
    import onnx
    net, x = _net(n=2)
    info = export_model(deploy(net), x, tmp_path)
    assert info["shortcut"] == "float32" and "golden_float.npz" in info["files"]
    g = onnx.load(tmp_path / "model.onnx").graph
    ops = [n.op_type for n in g.node]
    assert "BatchNormalization" not in ops and "FixedPointRequant" not in ops
    assert ops.count("BipolarQuant") == 10
    # stem, 5 binary convs, 1 downsample: one Mul + one Add (float32 constants) each
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in g.initializer}
    muls = [n for n in g.node if n.op_type == "Mul" and any(t in inits for t in n.input)]
    assert sum(inits[t].dtype == f32 and inits[t].size > 1 for n in muls for t in n.input
               if t in inits) == 7
    dep = deploy(net)
    consts = {inits[t].tobytes() for n in g.node for t in n.input if t in inits}
    assert dep.blocks[0].conv.requant.a.numpy().tobytes() in consts     # exact bits shipped
    z = np.load(tmp_path / "golden_float.npz")
    gf = {k: z[k] for k in z.files}
    r = verify_onnx(tmp_path / "model.onnx", np.load(tmp_path / "golden_in.npy"),
                    np.load(tmp_path / "golden_out.npy"), golden_float=gf)
    assert r["ok"] and r["bit_exact"] and r["float_bit_exact"] and r["tolerance"] == 0.0
    # the check can fail: one float tensor off by one ulp
    k = "blocks.3"
    gf[k] = gf[k].copy()
    gf[k].view(np.uint32)[0, 0, 0, 0] += 1
    r = verify_onnx(tmp_path / "model.onnx", np.load(tmp_path / "golden_in.npy")[:1],
                    np.load(tmp_path / "golden_out.npy")[:1],
                    golden_float={kk: v[:1] for kk, v in gf.items()})
    assert not r["ok"] and r["float_mismatches"] == {k: 1}


def test_train_float_few_steps_and_checkpoint(tmp_path):
    from model.checkpoint import model_from_checkpoint
    from model.train import TrainConfig, train
    m = train(TrainConfig(arch="bireal-tiny", data="digits", out=str(tmp_path), epochs1=0,
                          epochs2=1, limit=64, bn_recal_batches=1, bn_freeze=0,
                          shortcut="float32", progress=False), log=lambda *a: None)
    assert m["test_acc"] is not None and m["config"]["shortcut"] == "float32"
    net = model_from_checkpoint(tmp_path / "checkpoint.pt")
    assert mode_name(net.q.shortcut) == "float32"
    # resuming into another mode is refused
    with pytest.raises(BiRealError, match="trained with shortcut"):
        train(TrainConfig(arch="bireal-tiny", data="digits", out=str(tmp_path), epochs1=1,
                          epochs2=1, limit=64, resume=True, progress=False), log=lambda *a: None)


@pytest.mark.parametrize("cmd", [["train", "--out", "OUT"],
                                 ["export", "--arch", "bireal-tiny", "--random-init", "--out",
                                  "OUT"]])
def test_bad_shortcut_is_one_clear_error_line(cmd, tmp_path, capsys):
    argv = [str(tmp_path / "o") if a == "OUT" else a for a in cmd] + ["--shortcut", "float16"]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("bireal: error:")
    assert "float16" in err[0] and "fixed8, float32" in err[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_float_forward_equals_plain_pytorch_reference(mode):
    from model.reference import ReferenceBiReal
    net, x = _net()
    ref = ReferenceBiReal("bireal-tiny", q=net.q)
    ref.load_state_dict(net.state_dict(), strict=False)
    getattr(net, mode)()
    getattr(ref, mode)()
    with torch.no_grad():
        assert torch.equal(net(x), ref(x))
        # mutation: a fixed-point reference (requant on the path) is not the float model
        ref8 = ReferenceBiReal("bireal-tiny")
        ref8.load_state_dict(net.state_dict(), strict=False)
        getattr(ref8, mode)()
        assert not torch.equal(net.blocks(net.stem(net.input_quant(x))),
                               ref8.blocks(ref8.stem(torch.round(x * 256) / 256)))


def test_export_of_a_checkpoint_keeps_its_mode(tmp_path, capsys):
    from model.checkpoint import save_checkpoint
    save_checkpoint(tmp_path / "c.pt", bireal("bireal-tiny"), epoch=0)       # fixed8
    with pytest.raises(SystemExit):
        main(["export", "--ckpt", str(tmp_path / "c.pt"), "--shortcut", "float32", "--out",
              str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained with --shortcut fixed8, not float32" in err[0]
