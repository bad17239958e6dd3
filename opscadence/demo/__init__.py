"""The deterministic demo shop (``generator``) and social app (``social``), loaded into the
warehouse by ``load``."""

from opscadence.demo.generator import DemoShop, generate_demo_frames
from opscadence.demo.load import load_demo, load_demo_chunked
from opscadence.demo.social import DemoSocialApp, generate_social_frames

__all__ = ["DemoShop", "DemoSocialApp", "generate_demo_frames", "generate_social_frames", "load_demo",
           "load_demo_chunked"]
