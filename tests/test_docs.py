"""README.md and docs/: every relative link and #anchor resolves, every named path exists."""
import glob
import os.path as osp
import re

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAGES = [osp.join(REPO_ROOT, 'README.md')] + sorted(
    glob.glob(osp.join(REPO_ROOT, 'docs', '**', '*.md'), recursive=True))
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
# configs/..., tools/..., scripts/... files named in the text (not templates with <...> or *)
NAMED_PATH = re.compile(r'(?<![\w/.<-])((?:configs|tools|scripts)/[\w./-]+\.(?:py|sh|yml|md))\b')


def prose(text: str) -> str:
    """The text without fenced code blocks (their '#' lines are comments, not headings)."""
    return re.sub(r'^```.*?^```', '', text, flags=re.S | re.M)


def anchors(path: str) -> set:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to '-'."""
    seen, result = {}, set()
    with open(path, encoding='utf-8') as f:
        for line in prose(f.read()).splitlines():
            match = re.match(r'^#{1,6} (.*)', line)
            if not match:
                continue
            slug = re.sub(r'[^\w\- ]', '', match.group(1).strip().lower()).replace(' ', '-')
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            result.add(slug if count == 0 else f'{slug}-{count}')
    return result


def page_id(path):
    return osp.relpath(path, REPO_ROOT)


@pytest.mark.parametrize('page', PAGES, ids=page_id)
def test_relative_links_and_anchors_resolve(page):
    with open(page, encoding='utf-8') as f:
        text = prose(f.read())
    broken = []
    for target in LINK.findall(text):
        if re.match(r'^[a-z]+:', target):
            continue
        path, _, anchor = target.partition('#')
        resolved = osp.normpath(osp.join(osp.dirname(page), path)) if path else page
        if not osp.exists(resolved):
            broken.append(f'{target} (no file {page_id(resolved)})')
        elif anchor and resolved.endswith('.md') and anchor not in anchors(resolved):
            broken.append(f'{target} (no heading #{anchor} in {page_id(resolved)})')
    assert not broken, f'{page_id(page)}: ' + '; '.join(broken)


@pytest.mark.parametrize('page', PAGES, ids=page_id)
def test_named_configs_tools_and_scripts_exist(page):
    with open(page, encoding='utf-8') as f:
        named = set(NAMED_PATH.findall(f.read()))
    missing = sorted(path for path in named if not osp.exists(osp.join(REPO_ROOT, path)))
    assert not missing, f'{page_id(page)} names files that do not exist: {missing}'


def test_readme_is_a_front_door():
    with open(PAGES[0], encoding='utf-8') as f:
        lines = f.read().splitlines()
    assert len(lines) <= 250, f'README.md has {len(lines)} lines; the record belongs in docs/'
    commands = [line.split('#')[0].strip() for line in lines]
    assert 'make demo' in commands and 'make test' in commands  # the two commands
