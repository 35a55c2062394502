"""Packaging for mmsola.

Like mmdet and mmpretrain, the package carries ``configs/`` and ``tools/`` under ``mmsola/.mim`` so
that ``_base_ = 'mmsola::<path>'`` resolves from any project: copied into wheels, symlinked for
editable installs (``pip install -e .``), so edits to the configs take effect at once.
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

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
        include_package_data=True,
        package_data={'mmsola': ['.mim/configs/**/*', '.mim/tools/**/*', '.mim/model-index.yml']},
        install_requires=read_requirements('runtime.txt'),
        extras_require={'tests': read_requirements('tests.txt')},
        zip_safe=False,
    )
