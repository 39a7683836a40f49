"""Q-networks: a multilayer perceptron for vector observations and a small CNN for grids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


@dataclass
class NetworkSpec:
    """Everything needed to rebuild a Q-network, stored in every model file.

    Attributes:
        kind: ``"mlp"`` for flat observations or ``"cnn"`` for channel grids.
        input_shape: Shape of one observation as the environment returns it.
        num_actions: Number of discrete actions, one Q-value each.
        hidden_sizes: Units of each hidden dense layer.
        activation: ``"relu"``, ``"leaky_relu"`` or ``"elu"``.
        dropout: Dropout probability after each hidden layer; active only in training mode.
        grid_shape: ``(channels, height, width)`` that a flat grid observation is reshaped to,
            for ``kind="cnn"``.
        conv_channels: Output channels of each 3x3 convolution, for ``kind="cnn"``.
        dueling: Split the head into a state value and action advantages.
    """

    kind: str
    input_shape: tuple[int, ...]
    num_actions: int
    hidden_sizes: tuple[int, ...] = (128, 128)
    activation: str = "relu"
    dropout: float = 0.0
    grid_shape: tuple[int, int, int] | None = None
    conv_channels: tuple[int, ...] = (32, 64)
    dueling: bool = False

    def to_dict(self) -> dict:
        """Return the spec as plain types for a checkpoint."""
        return {
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "num_actions": self.num_actions,
            "hidden_sizes": list(self.hidden_sizes),
            "activation": self.activation,
            "dropout": self.dropout,
            "grid_shape": list(self.grid_shape) if self.grid_shape else None,
            "conv_channels": list(self.conv_channels),
            "dueling": self.dueling,
        }

    @classmethod
    def from_dict(cls, data: dict) -> NetworkSpec:
        """Rebuild a spec from :meth:`to_dict` output."""
        grid_shape = data.get("grid_shape")
        return cls(
            kind=str(data["kind"]),
            input_shape=tuple(int(size) for size in data["input_shape"]),
            num_actions=int(data["num_actions"]),
            hidden_sizes=tuple(int(size) for size in data["hidden_sizes"]),
            activation=str(data["activation"]),
            dropout=float(data["dropout"]),
            grid_shape=tuple(int(size) for size in grid_shape) if grid_shape else None,
            conv_channels=tuple(int(size) for size in data.get("conv_channels", (32, 64))),
            dueling=bool(data.get("dueling", False)),
        )


def _dense_stack(
    in_features: int, hidden_sizes: Sequence[int], activation: str, dropout: float
) -> tuple[nn.Sequential, int]:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden_sizes:
        if size <= 0:
            raise ValueError(f"hidden layer sizes must be positive, got {list(hidden_sizes)}")
        layers.append(nn.Linear(width, size))
        layers.append(ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    return nn.Sequential(*layers), width


class QHead(nn.Module):
    """Output layer: one Q-value per action, optionally split into value and advantages."""

    def __init__(self, in_features: int, num_actions: int, dueling: bool) -> None:
        super().__init__()
        self.dueling = dueling
        self.advantage = nn.Linear(in_features, num_actions)
        self.value = nn.Linear(in_features, 1) if dueling else None

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        advantages = self.advantage(features)  # (batch, num_actions)
        if self.value is None:
            return advantages
        # Subtracting the mean advantage makes value and advantages identifiable.
        return self.value(features) + advantages - advantages.mean(dim=1, keepdim=True)


class MLPQNetwork(nn.Module):
    """Dense Q-network for flat observations.

    Args:
        spec: Network description; ``spec.input_shape`` is flattened.
    """

    def __init__(self, spec: NetworkSpec) -> None:
        super().__init__()
        in_features = 1
        for size in spec.input_shape:
            in_features *= size
        self.body, width = _dense_stack(
            in_features, spec.hidden_sizes, spec.activation, spec.dropout
        )
        self.head = QHead(width, spec.num_actions, spec.dueling)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        features = self.body(observations.flatten(start_dim=1))  # (batch, hidden)
        return self.head(features)  # (batch, num_actions)

    def hidden_features(self, observations: torch.Tensor) -> torch.Tensor:
        """Return the activations of the last hidden layer."""
        return self.body(observations.flatten(start_dim=1))


class CNNQNetwork(nn.Module):
    """Small convolutional Q-network for channel grids such as the snake board.

    3x3 convolutions with padding keep the grid size, so every cell keeps its own
    features up to the dense layers; no pooling is used because boards are small.

    Args:
        spec: Network description with ``grid_shape`` set.
    """

    def __init__(self, spec: NetworkSpec) -> None:
        super().__init__()
        if spec.grid_shape is None:
            raise ValueError("a CNN Q-network needs grid_shape (channels, height, width)")
        channels, height, width = spec.grid_shape
        self.grid_shape = tuple(spec.grid_shape)
        activation = ACTIVATIONS[spec.activation]
        conv_layers: list[nn.Module] = []
        in_channels = channels
        for out_channels in spec.conv_channels:
            conv_layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
            conv_layers.append(activation())
            in_channels = out_channels
        self.conv = nn.Sequential(*conv_layers, nn.Flatten())
        self.body, hidden_width = _dense_stack(
            in_channels * height * width, spec.hidden_sizes, spec.activation, spec.dropout
        )
        self.head = QHead(hidden_width, spec.num_actions, spec.dueling)

    def hidden_features(self, observations: torch.Tensor) -> torch.Tensor:
        """Return the activations of the last hidden layer."""
        grids = observations.reshape(-1, *self.grid_shape)  # (batch, C, H, W)
        return self.body(self.conv(grids))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden_features(observations))  # (batch, num_actions)


def build_q_network(spec: NetworkSpec) -> nn.Module:
    """Build the Q-network that ``spec`` describes.

    Raises:
        ValueError: If ``spec.kind`` is not ``"mlp"`` or ``"cnn"``, or a layer setting is invalid.
    """
    if spec.kind == "mlp":
        return MLPQNetwork(spec)
    if spec.kind == "cnn":
        return CNNQNetwork(spec)
    raise ValueError(f"network kind must be 'mlp' or 'cnn', got {spec.kind!r}")


def model_summary(model: nn.Module) -> str:
    """Format each parameterised layer with its parameter count, and the total.

    A dense layer has ``inputs x units`` weights plus one bias per unit; a convolution has
    ``in_channels x out_channels x kernel area`` weights plus one bias per output channel.
    """
    rows = []
    total = 0
    for name, module in model.named_modules():
        own_parameters = list(module.parameters(recurse=False))
        if not own_parameters:
            continue
        count = sum(parameter.numel() for parameter in own_parameters)
        total += count
        rows.append((name, repr(module), count))
    name_width = max([len("Layer")] + [len(name) for name, _, _ in rows])
    kind_width = max([len("Type")] + [len(kind) for _, kind, _ in rows])
    lines = [f"{'Layer':<{name_width}}  {'Type':<{kind_width}}  {'Parameters':>10}"]
    lines.append("-" * len(lines[0]))
    for name, kind, count in rows:
        lines.append(f"{name:<{name_width}}  {kind:<{kind_width}}  {count:>10,}")
    lines.append("-" * len(lines[0]))
    lines.append(f"{'Total':<{name_width + kind_width + 2}}  {total:>10,}")
    return "\n".join(lines)
