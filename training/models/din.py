"""DIN (Zhou et al. 2018): target attention over the behaviour sequence + an MLP over every
feature. The project's first ranker (`training.models.ranker.Ranker`) is this model; it stays
where it was, so every published version and test keeps its weights' layout, and the zoo
names it `din` as the reference the other architectures are measured against."""
from training.models.ranker import Ranker as DIN

__all__ = ["DIN"]
