"""PLE, progressive layered extraction (Tang et al. 2020, Tencent), on the crossing + sequence
bottom.

Each extraction level (a CGC) has experts of its own per task and experts shared by all; a
task's gate mixes its own and the shared experts, a shared gate mixes all of them for the
next level. Separating task experts from shared ones is what PLE adds over MMoE: it limits
the "seesaw" where one task improves at another's expense.
"""
from __future__ import annotations

import torch
from torch import nn

from training.models.blocks import CrossSequenceBottom, mlp, tower


class ExtractionLevel(nn.Module):
    """One CGC: task and shared experts, per-task gates, and (below the top) a shared gate."""

    def __init__(self, width: int, n_tasks: int, task_experts: int, shared_experts: int,
                 hidden: tuple[int, ...], last: bool):
        super().__init__()
        self.task = nn.ModuleList(nn.ModuleList(mlp(width, hidden) for _ in range(task_experts))
                                  for _ in range(n_tasks))
        self.shared = nn.ModuleList(mlp(width, hidden) for _ in range(shared_experts))
        self.out = self.shared[0].out
        self.task_gates = nn.ModuleList(nn.Linear(width, task_experts + shared_experts) for _ in range(n_tasks))
        self.shared_gate = None if last else nn.Linear(width, n_tasks * task_experts + shared_experts)

    def forward(self, task_in: list[torch.Tensor], shared_in: torch.Tensor):
        shared = [e(shared_in) for e in self.shared]
        own = [[e(x) for e in experts] for experts, x in zip(self.task, task_in)]
        task_out = [_mix(gate(x), mine + shared) for gate, x, mine in zip(self.task_gates, task_in, own)]
        shared_out = None
        if self.shared_gate is not None:
            shared_out = _mix(self.shared_gate(shared_in), [e for mine in own for e in mine] + shared)
        return task_out, shared_out


def _mix(gate_logits: torch.Tensor, experts: list[torch.Tensor]) -> torch.Tensor:
    return (torch.softmax(gate_logits, dim=1).unsqueeze(-1) * torch.stack(experts, dim=1)).sum(1)


class PLE(nn.Module):
    def __init__(self, vocab: list[int], n_num: int, n_heads: int, seq_len: int, emb: int = 16,
                 cross_layers: int = 2, low_rank: int | None = 32, levels: int = 2, task_experts: int = 1,
                 shared_experts: int = 2, expert_hidden: tuple[int, ...] = (64,),
                 tower_hidden: tuple[int, ...] = (32,), sequence: str = "attention"):
        super().__init__()
        self.bottom = CrossSequenceBottom(vocab, n_num, seq_len, emb, cross_layers, low_rank, sequence)
        width, self.levels = self.bottom.out, nn.ModuleList()
        for level in range(levels):
            self.levels.append(ExtractionLevel(width, n_heads, task_experts, shared_experts, expert_hidden,
                                               last=level == levels - 1))
            width = self.levels[-1].out
        self.towers = nn.ModuleList(tower(width, tower_hidden) for _ in range(n_heads))

    def forward(self, cat: torch.Tensor, num: torch.Tensor, seq_items: torch.Tensor,
                seq_cats: torch.Tensor) -> torch.Tensor:
        x = self.bottom(cat, num, seq_items, seq_cats)
        task_in, shared_in = [x] * len(self.towers), x
        for level in self.levels:
            task_in, shared_in = level(task_in, shared_in)
        return torch.sigmoid(torch.cat([top(t) for top, t in zip(self.towers, task_in)], dim=1))
