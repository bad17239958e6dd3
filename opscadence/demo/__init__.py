"""The deterministic demo shop (``generator``), loaded into the warehouse by ``load``."""

from opscadence.demo.generator import DemoShop, generate_demo_frames
from opscadence.demo.load import load_demo, load_demo_chunked

__all__ = ["DemoShop", "generate_demo_frames", "load_demo", "load_demo_chunked"]
