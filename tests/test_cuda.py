"""The product's model paths on a CUDA GPU agree with the CPU (skipped where there is none).

The app and the training command put models on CUDA whenever torch sees a GPU
(``core.device.default_device``); CI has none, so these run on a developer's GPU machine.
"""

from __future__ import annotations

import pytest
import torch

from core.model import GPT, GPTConfig, InputError, generate, load_checkpoint
from core.registry import load_model
from core.sampling import Sampler, SamplingConfig
from core.training import TrainConfig, Trainer
from core.training.data import TokenData

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CUDA, CPU = torch.device("cuda"), torch.device("cpu")
PROMPT = "The for statement is used to iterate over the elements of a sequence"


@pytest.fixture(scope="module")
def builtin_pair():
    return load_model("builtin", device=CPU), load_model("builtin", device=CUDA)


@torch.inference_mode()
def test_builtin_model_on_cuda_gives_the_cpu_logits_and_attention(builtin_pair):
    cpu, gpu = builtin_pair
    assert gpu.model.device.type == "cuda"
    ids = torch.tensor([[cpu.config.start_token, *cpu.tokenizer.encode_ordinary(PROMPT)]])
    ref = cpu.model(ids, capture=True)
    out = gpu.model(ids.to(CUDA), capture=True)
    torch.testing.assert_close(out.logits.cpu(), ref.logits, rtol=0, atol=1e-3)
    for a, b in zip(out.attentions, ref.attentions, strict=True):
        torch.testing.assert_close(a.cpu(), b, rtol=0, atol=1e-4)
    # The cached decode on the GPU (SDPA kernels) agrees with the GPU's full forward.
    cache = gpu.model.new_kv_cache()
    step = [gpu.model(ids[:, :-1].to(CUDA), kv_cache=cache)]
    step.append(gpu.model(ids[:, -1:].to(CUDA), kv_cache=cache))
    torch.testing.assert_close(torch.cat(step, 1).cpu(), ref.logits, rtol=0, atol=1e-3)


@pytest.mark.parametrize("config", [SamplingConfig(greedy=True), SamplingConfig(seed=7)])
def test_sampler_on_cuda_draws_the_cpu_tokens(builtin_pair, config):
    cpu, gpu = builtin_pair
    runs = []
    for loaded in (cpu, gpu):
        sampler = Sampler(loaded.model, loaded.tokenizer, PROMPT, config)
        sampler.run(40)
        runs.append(sampler.token_ids)
    assert runs[0] == runs[1]


def test_out_of_range_ids_on_cuda_raise_a_clear_error_not_a_device_assert(builtin_pair):
    model = builtin_pair[1].model
    with pytest.raises(InputError, match="out of range"):
        model(torch.tensor([[1, model.config.vocab_size]], device=CUDA))
    assert model(torch.tensor([[1, 2]], device=CUDA)).isfinite().all()  # CUDA still works


def test_generation_on_cuda_with_cache_equals_without():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=101, context_length=32, n_layer=2, n_head=4, n_embd=64))
    model = model.eval().to(CUDA)
    idx = torch.tensor([[5, 17, 3]], device=CUDA)
    for temperature in (0.0, 0.9):
        outs = []
        for use_cache in (True, False):
            g = torch.Generator(device=CUDA).manual_seed(3)
            outs.append(
                generate(model, idx, 40, temperature=temperature, generator=g, use_cache=use_cache)
            )
        assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_on_cuda_learns_and_its_checkpoint_loads_on_the_cpu(tmp_path, precision):
    g = torch.Generator().manual_seed(0)
    pattern = torch.randint(0, 50, (40,), generator=g)
    data = TokenData(train=pattern.repeat(300), val=pattern.repeat(30), eot_id=None)
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=64, context_length=32, n_layer=2, n_head=4, n_embd=64)
    model = GPT(config).to(CUDA)
    cfg = TrainConfig(
        steps=60, batch_size=8, lr=3e-3, warmup_steps=5, eval_every=30, eval_windows=4,
        sample_every=0, checkpoint_every=30, precision=precision,
    )  # fmt: skip
    result = Trainer(model, data, cfg, tmp_path).run()
    assert result.status == "finished", result.message
    assert result.val_loss < 1.0  # memorised the repeating pattern (ln 64 = 4.2 at the start)
    ckpt = load_checkpoint(result.checkpoints["last"], device=CPU)
    ids = pattern[:20][None]
    with torch.inference_mode():
        torch.testing.assert_close(
            ckpt.model.eval()(ids), model.eval()(ids.to(CUDA)).cpu(), rtol=0, atol=1e-3
        )
