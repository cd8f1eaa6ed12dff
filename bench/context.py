"""What every row gets: the sizes of this run, scratch folders, generated databases."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import datagen, pg
from .core import Sizes, step


@dataclass
class Databases:
    """Generated databases, kept until discarded: rows that want the same volume share one."""

    alive: dict[datagen.Volume, tuple[str, str]] = field(default_factory=dict)
    stats: dict[str, dict[str, object]] = field(default_factory=dict)
    serial: int = 0

    def get(self, volume: datagen.Volume) -> str:
        if volume in self.alive:
            return self.alive[volume][1]
        self.serial += 1
        name = f"barometre_bench_{os.getpid()}_{self.serial}"
        url = pg.create(name)
        self.alive[volume] = (name, url)
        label = f"{volume.establishments} establishments, {volume.reports:_} reports"
        with step(f"generating {label}"):
            self.stats[label] = datagen.build(url, volume).as_dict()
        return url

    def discard(self, volume: datagen.Volume) -> None:
        if volume in self.alive:
            pg.drop(self.alive.pop(volume)[0])

    def close(self) -> None:
        for volume in list(self.alive):
            self.discard(volume)


@dataclass
class Context:
    sizes: Sizes
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-")))
    databases: Databases = field(default_factory=Databases)

    def instance(self, name: str) -> str:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    def close(self) -> None:
        self.databases.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
