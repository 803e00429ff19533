"""SSL across 2 gloo workers equals one process on the concatenated batch; MoCo's queue stays consistent."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from vidray.ssl import MoCo, SimCLR, cosine_momentum, momentum_copy, momentum_update

GLOBAL_BATCH, WORLD = 8, 2


def global_views() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    return [torch.randn(GLOBAL_BATCH, 6, generator=generator) for _ in range(2)]


def simclr() -> SimCLR:
    torch.manual_seed(0)
    return SimCLR(mlp=nn.Linear(4, 3), backbone=nn.Linear(6, 4), temperature=0.5)


def moco() -> MoCo:
    torch.manual_seed(0)
    return MoCo(backbone=nn.Linear(6, 4), mlp=nn.Linear(4, 3), dim=3, queue_size=16, shuffle_bn=True)


def gradients(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def worker(rank: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        local = slice(rank * GLOBAL_BATCH // WORLD, (rank + 1) * GLOBAL_BATCH // WORLD)
        views = [v[local] for v in global_views()]
        model = simclr()
        loss = model(*views)
        loss.backward()
        grads = gradients(model)
        for grad in grads.values():  # what DDP does: average over workers
            dist.all_reduce(grad)
            grad /= WORLD
        queue_model = moco().train()
        queue_model(*views)
        clips = torch.cat(views)
        shuffled_keys = queue_model._keys(clips)
        plain_keys = queue_model.backbone_mmt(clips)
        torch.save({"loss": loss.item(), "grads": grads, "queue": queue_model.queue.clone(),
                    "ptr": int(queue_model.queue_ptr), "shuffled": shuffled_keys, "plain": plain_keys},
                   f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    tmp = tmp_path_factory.mktemp("ssl-dist")
    mp.spawn(worker, args=(str(tmp / "init"), str(tmp)), nprocs=WORLD, join=True)
    return [torch.load(tmp / f"rank{rank}.pt", weights_only=False) for rank in range(WORLD)]


def test_distributed_simclr_loss_equals_the_single_process_loss(ranks):
    single = simclr()(*global_views()).item()
    assert sum(r["loss"] for r in ranks) / WORLD == pytest.approx(single, abs=1e-6)


def test_distributed_simclr_gradients_equal_the_single_process_gradients(ranks):
    model = simclr()
    model(*global_views()).backward()
    expected = gradients(model)
    for rank in ranks:
        assert expected.keys() == rank["grads"].keys()
        for name, grad in expected.items():
            torch.testing.assert_close(rank["grads"][name], grad, atol=1e-6, rtol=1e-5, msg=name)


def test_moco_queue_holds_the_same_global_keys_on_every_worker(ranks):
    torch.testing.assert_close(ranks[0]["queue"], ranks[1]["queue"])
    model = moco()
    keys = F.normalize(model.backbone_mmt(global_views()[0]), dim=1)  # first view, rank order = global order
    torch.testing.assert_close(ranks[0]["queue"][:GLOBAL_BATCH], keys.detach())
    assert ranks[0]["ptr"] == ranks[1]["ptr"] == GLOBAL_BATCH


def test_shuffle_bn_returns_each_worker_its_own_keys(ranks):
    for rank in ranks:  # no batch norm in this encoder: shuffling must not change any key
        torch.testing.assert_close(rank["shuffled"], rank["plain"])


def test_momentum_update_follows_its_formula():
    online = nn.Linear(3, 2)
    target = momentum_copy(online)
    with torch.no_grad():
        online.weight.add_(1.0)
    before = target.weight.clone()
    momentum_update(online, target, 0.9)
    torch.testing.assert_close(target.weight, 0.9 * before + 0.1 * online.weight)
    assert not target.weight.requires_grad


def test_cosine_momentum_rises_from_its_base_to_one():
    assert cosine_momentum(0.99, 0.0) == pytest.approx(0.99)
    assert cosine_momentum(0.99, 0.5) == pytest.approx(0.995)
    assert cosine_momentum(0.99, 1.0) == pytest.approx(1.0)
