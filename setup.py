"""Packaging for mmsola.

Like mmdet and mmpretrain, the package carries ``configs/`` and ``tools/`` under ``mmsola/.mim`` so
that ``_base_ = 'mmsola::<path>'`` resolves from any project: copied into wheels, symlinked for
editable installs (``pip install -e .``), so edits to the configs take effect at once.

Both kinds of install also put ``mmsola-config-scope.pth`` in site-packages: it lets MMEngine
resolve ``mmsola::`` in processes that never import mmsola, such as mmdet's own
``tools/train.py`` (see ``_mmsola_config_scope.py``).
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
MIM_ENTRIES = ('configs', 'tools', 'model-index.yml')


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join(ROOT, 'mmsola', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(name: str) -> list:
    with open(osp.join(ROOT, 'requirements', name), encoding='utf-8') as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def add_mim_extension() -> None:
    """Place configs/, tools/ and model-index.yml under mmsola/.mim.

    Symlinks for editable installs, copies otherwise. MMEngine reads model-index.yml (and the
    metafiles it lists) before it falls back to ``.mim/configs/<path>``.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'build', 'install')):
        mode = 'copy'
    else:
        return
    mim_dir = osp.join(ROOT, 'mmsola', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for entry in MIM_ENTRIES:
        src = osp.join(ROOT, entry)
        dst = osp.join(mim_dir, entry)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst, target_is_directory=osp.isdir(src))
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


STARTUP_PTH = 'mmsola-config-scope.pth'
# site.py runs .pth lines that start with "import"; the try keeps a half-removed install quiet,
# without importing importlib.util (6 ms) in every process.
STARTUP_LINE = (
    "import sys; exec('try:\\n import _mmsola_config_scope as hook\\nexcept ImportError:\\n "
    "pass\\nelse:\\n hook.install()')\n")


class BuildPyWithStartupHook(build_py):
    """build_py that also writes :data:`STARTUP_PTH` to the root of what gets installed."""

    def run(self) -> None:
        super().run()
        # An editable wheel is assembled in the install folder; a normal one from build_lib.
        root = (self.get_finalized_command('install').install_lib
                if getattr(self, 'editable_mode', False) else self.build_lib)
        os.makedirs(root, exist_ok=True)
        with open(osp.join(root, STARTUP_PTH), 'w', encoding='utf-8') as f:
            f.write(STARTUP_LINE)

    def get_outputs(self, include_bytecode: bool = True) -> list:
        outputs = super().get_outputs(include_bytecode)
        if not getattr(self, 'editable_mode', False):
            outputs.append(osp.join(self.build_lib, STARTUP_PTH))
        return outputs


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmsola',
        version=read_version(),
        description='SoLA-Vision: layer-wise linear/softmax hybrid attention backbones '
        'for OpenMMLab classification, detection and segmentation',
        long_description=open(osp.join(ROOT, 'README.md'), encoding='utf-8').read(),
        long_description_content_type='text/markdown',
        license='Apache-2.0',
        python_requires='>=3.9',
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'tests.*')),
        py_modules=['_mmsola_config_scope'],
        cmdclass={'build_py': BuildPyWithStartupHook},
        include_package_data=True,
        package_data={'mmsola': ['.mim/configs/**/*', '.mim/tools/**/*', '.mim/model-index.yml']},
        install_requires=read_requirements('runtime.txt'),
        extras_require={'tests': read_requirements('tests.txt'),
                        'deploy': read_requirements('deploy.txt')},
        zip_safe=False,
    )
