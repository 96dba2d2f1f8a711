"""Graph -> nn.Module: every library network compiles to exactly what the front end checked.

For each library network: the module's parameter count is the graph's, every
layer's module holds that layer's parameters, and a forward pass (on the meta
device, in training mode so auxiliary heads run too) gives every node exactly
the shape the front end inferred. Then the semantics of compilation: outputs,
init rules, names, training.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision

import netspec
from netspec.compiler.to_torch import compile_graph, module_class
from netspec.errors import SpecError
from netspec.library import library_index

pytestmark = pytest.mark.torch  # builds torch modules: left out of `make test-fast`

# Parameters that switch on parts the defaults leave out (auxiliary heads).
VARIANTS = [(name, {}) for name in library_index()] + [
    ("googlenet", {"aux_logits": True}),
    ("fcn_resnet50", {"aux_loss": True}),
    ("deeplabv3_resnet50", {"aux_loss": True}),
]


def _id(v: tuple[str, dict]) -> str:
    return v[0] + "".join(f"-{k}" for k in v[1])


def modules_of(graph: netspec.Graph, model: torch.nn.Module) -> dict[str, str]:
    """Layer or scope path -> the node whose shape its module returns (weightless calls have none)."""
    found = {}
    for node in graph.layers():
        try:
            model.get_submodule(node.id)
        except AttributeError:
            assert node.params == 0, f"{node.id} has weights but no module"
            continue
        found[node.id] = node.id
    for path, scope in graph.scopes.items():
        if path and scope.output is not None and scope.kind == "block":
            found[path] = scope.output
    return found


def shapes_by_node(graph: netspec.Graph, model: torch.nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Run the model and record the output shape of each layer's (and block's) module, by node id."""
    seen: dict[str, tuple[int, ...]] = {}
    handles = []
    for path, nid in modules_of(graph, model).items():
        def hook(_m, _inp, out, nid=nid):
            if isinstance(out, torch.Tensor):  # a block with several outputs returns a tuple
                seen[nid] = tuple(out.shape)
        handles.append(model.get_submodule(path).register_forward_hook(hook))
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return seen


@pytest.mark.parametrize("variant", VARIANTS, ids=_id)
def test_library_network_compiles_to_checked_shapes(variant: tuple[str, dict]) -> None:
    name, params = variant
    graph = netspec.load(name, **params)
    with torch.device("meta"):
        model = compile_graph(graph)
        assert sum(p.numel() for p in model.parameters()) == graph.params
        for path in modules_of(graph, model):
            if path in graph.nodes:
                assert sum(p.numel() for p in model.get_submodule(path).parameters()) == graph.nodes[path].params, path
        model.train()
        seen = shapes_by_node(graph, model, torch.empty(2, *graph.input_shape))
    layers = {nid for nid in modules_of(graph, model) if nid in graph.nodes}
    want = {nid: (2, *graph.nodes[nid].shape) for nid in modules_of(graph, model).values()}
    assert layers <= set(seen) and seen == {k: want[k] for k in seen}


def test_forward_on_real_tensors_matches_shapes() -> None:
    graph = netspec.load("resnet18", input=(3, 64, 64))
    model = compile_graph(graph).eval()
    with torch.no_grad():
        seen = shapes_by_node(graph, model, torch.randn(1, 3, 64, 64))
    assert seen == {nid: (1, *graph.nodes[nid].shape) for nid in modules_of(graph, model).values()}


@pytest.mark.parametrize(("name", "builder", "kwargs"), [
    ("resnet18", torchvision.models.resnet18, {}),
    ("densenet121", torchvision.models.densenet121, {}),
    ("efficientnet_b0", torchvision.models.efficientnet_b0, {}),
    ("googlenet", torchvision.models.googlenet, {"aux_logits": False, "init_weights": True}),
])
def test_same_seed_same_weights_as_torchvision(name: str, builder, kwargs: dict) -> None:
    """Construction order and the spec's init rules reproduce torchvision's random init exactly."""
    cls = module_class(netspec.load(name))
    torch.manual_seed(0)
    ours = cls().state_dict()
    torch.manual_seed(0)
    ref = builder(weights=None, **kwargs).state_dict()
    assert list(ours) == list(ref)
    assert all(torch.equal(ours[k], ref[k]) for k in ref)


INIT_SPEC = """
block inner(c) {
  init conv weight=constant(val=3.0)
  a: conv c k=1
  b: conv c k=1 init=constant(val=5.0) bias_init=ones()
}
network net() {
  input 2x4x4
  init conv weight=zeros() bias=constant(val=2.0)
  init bn weight=constant(val=0.5)
  init linear weight=fan_uniform(mode="fan_out")
  top: conv 3 k=1
  blk: inner(3)
  bn: bn
  flatten
  fc: linear 100
}
"""


def test_init_rules_scope_and_overrides() -> None:
    model = compile_graph(netspec.load_text(INIT_SPEC))
    assert torch.all(model.top.weight == 0) and torch.all(model.top.bias == 2)
    assert torch.all(model.blk.a.weight == 3) and torch.all(model.blk.a.bias == 2)  # inner rule wins for weight only
    assert torch.all(model.blk.b.weight == 5) and torch.all(model.blk.b.bias == 1)  # the layer's own init wins
    assert torch.all(model.bn.weight == 0.5) and torch.all(model.bn.bias == 0)
    bound = 1 / 100 ** 0.5  # fan_out of a (100, 48) weight
    assert model.fc.weight.abs().max() <= bound and model.fc.weight.abs().max() > 0.5 * bound


def test_library_init_rules() -> None:
    vgg = compile_graph(netspec.load("vgg11"))
    assert torch.all(vgg.classifier[0].bias == 0)
    assert abs(vgg.classifier[0].weight.std().item() - 0.01) < 1e-3
    conv = vgg.features[0]
    assert abs(conv.weight.std().item() - (2 / (64 * 9)) ** 0.5) < 0.2 * (2 / (64 * 9)) ** 0.5  # fan_out
    se = compile_graph(netspec.load("seresnet18"))
    assert torch.all(se.layer1[0].bn2.weight == 0)  # zero_init_residual: the layer's own init=
    assert torch.all(se.layer1[0].bn1.weight == 1)


@pytest.mark.parametrize(("spec", "message"), [
    ("network n() { input 3x8x8\n init conv weight=normal(sdt=1.0)\n conv 4 }", "has no argument 'sdt'"),
    ('network n() { input 3x8x8\n init conv weight=kaiming_normal(mode="fan_up")\n conv 4 }', "must be one of"),
    ("network n() { input 3x8x8\n init conv weight=normal(std=1e300)\n conv 4 }", "finite number"),
])
def test_bad_init_arguments_fail_at_check(spec: str, message: str) -> None:
    """Init schemes are validated when the spec is checked, so check accepts only what compile builds."""
    with pytest.raises(SpecError, match=message) as err:
        netspec.load_text(spec)
    assert err.value.span is not None and err.value.span.line == 2


@pytest.mark.parametrize(("spec", "message"), [
    ("network n() { input 3x8x8\n conv 4 bias=false bias_init=zeros() }", "without a bias"),
    ("network n() { input 3x8x8\n training: conv 4 }", "taken by torch.nn.Module"),
    ("network n() { input 3x8x8\n forward: conv 4 }", "taken by torch.nn.Module"),
])
def test_compile_errors_are_spec_errors(spec: str, message: str) -> None:
    graph = netspec.load_text(spec)
    with pytest.raises(SpecError, match=message) as err:
        compile_graph(graph)
    assert err.value.span is not None


OUTPUTS_SPEC = """
network two() {
  input 3x8x8
  stem: conv 4 k=3 p=1
  output feat: identity
  relu
  output train aux: @stem -> global_pool keepdim=false
  output logits: global_pool keepdim=false
}
network implicit_aux() {
  input 3x8x8
  stem: conv 4 k=3 p=1
  output train aux: @stem -> global_pool keepdim=false
  relu
}
"""


def test_outputs_dict_and_train_only() -> None:
    model = compile_graph(netspec.load_text(OUTPUTS_SPEC, name="two"))
    x = torch.randn(2, 3, 8, 8)
    train = model.train()(x)
    assert set(train) == {"feat", "logits", "aux"}
    assert train["feat"].shape == (2, 4, 8, 8) and train["aux"].shape == (2, 4)
    evals = model.eval()(x)
    assert set(evals) == {"feat", "logits"}
    assert torch.equal(evals["logits"], torch.relu(evals["feat"]).mean((2, 3)))


def test_implicit_output_is_a_tensor_in_eval() -> None:
    model = compile_graph(netspec.load_text(OUTPUTS_SPEC, name="implicit_aux"))
    x = torch.randn(2, 3, 8, 8)
    assert isinstance(model.eval()(x), torch.Tensor)
    out = model.train()(x)
    assert set(out) == {"out", "aux"}
    assert torch.equal(out["aux"], model.stem(x).mean((2, 3)))


def test_state_dict_keys_are_node_paths() -> None:
    graph = netspec.load("resnet18")
    model = compile_graph(graph)
    keys = {k.rsplit(".", 1)[0] for k in model.state_dict()}
    assert keys == {n.id for n in graph.layers() if n.params}
    assert "layer2.0.downsample.0.weight" in model.state_dict()


def test_a_few_optimizer_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    model = compile_graph(netspec.load("resnet18", num_classes=4, input=(3, 32, 32)))
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 4, (8,))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(6):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_compiled_module_prints_and_repeats() -> None:
    """Identical block instances share one generated class; repr shows the dotted tree."""
    model = compile_graph(netspec.load("resnet50"))
    assert type(model.layer1[1]) is type(model.layer3[5]) is type(model.layer1[0])  # one Bottleneck class
    assert model.layer1[1].downsample is None and model.layer1[0].downsample is not None
    assert "(downsample): Sequential" in repr(model)


INPLACE_SPEC = """
network n() {
  input 3x8x8
  a: conv 4 k=3 p=1
  b: relu                # in place: a fresh conv output read once
  c: conv 4 k=1
  d: sigmoid
  e: relu                # not: sigmoid's backward reads its output
  f: relu                # not: nor may relu's
  g: conv 4 k=1
  h: add @c              # in place into g
  i: add @c              # in place into h
  q: @c -> add @i        # not: c is read three times
  gp: @i -> global_pool
  j: @i -> conv 4 k=1
  k: add @gp             # in place into j, the broadcast operand second
  l: global_pool
  m: add @k              # not: the first operand would need broadcasting
  output feat: conv 4 k=1
  n: relu                # not: feat is a network output
  flatten
  o: relu                # not: flatten returns a view
  output logits: linear 3
}
"""


def test_inplace_only_where_safe_and_gradients_unchanged() -> None:
    from netspec.compiler.inplace import inplace_nodes

    graph = netspec.load_text(INPLACE_SPEC)
    assert inplace_nodes(graph) == {"b", "h", "i", "k"}
    torch.manual_seed(0)
    model = compile_graph(graph)
    reference = copy.deepcopy(model)
    for m in reference.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    x = torch.randn(2, 3, 8, 8)
    grads = []
    for net in (model, reference):
        out = net(x)
        (out["logits"].sum() + out["feat"].square().sum()).backward()
        grads.append([p.grad for p in net.parameters()])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads, strict=True))
