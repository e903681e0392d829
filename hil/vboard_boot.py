"""What the virtual board runs at every boot, before its REPL: the "firmware" part.

The MicroPython Unix port is started as `micropython -i -c <this code>`: mount the board's
filesystem at `/` (a host directory through VfsPosix, or a littlefs2 image on a file-backed
block device with the extended block interface: readblocks/writeblocks with offsets,
ioctl 4 = block count, 5 = block size, 6 = erase), make `/` the working directory and
`sys.path` a board's (`'', '.frozen', '/lib'`), run boot.py, then main.py unless the board
is coming back into the raw REPL — as rp2 and esp32 do. Ctrl-C is off while mounting (a
Ctrl-C racing the start must not kill the "firmware"), on for boot.py and main.py.
"""

from __future__ import annotations

BLOCK_SIZE = 4096  # littlefs2 block size (a flash erase sector)

_BOOT = r"""
import sys, vfs, os, micropython
micropython.kbd_intr(-1)
def _mount():
    root = {root!r}
    image = {image!r}
    if image:
        class BD:
            def __init__(s, p, n):
                s.f = open(p, 'r+b'); s.n = n
            def readblocks(s, b, buf, off=0):
                s.f.seek(b * {bs} + off); s.f.readinto(buf)
            def writeblocks(s, b, buf, off=None):
                if off is None:
                    off = 0
                s.f.seek(b * {bs} + off); s.f.write(buf)
            def ioctl(s, op, arg):
                if op == 4: return s.n
                if op == 5: return {bs}
                if op == 6: return 0
                return 0
        bd = BD(image, {blocks})
        try:
            fs = vfs.VfsLfs2(bd)
        except OSError:
            vfs.VfsLfs2.mkfs(bd)
            fs = vfs.VfsLfs2(bd)
    else:
        fs = vfs.VfsPosix(root)
    vfs.umount('/')
    vfs.mount(fs, '/')
    os.chdir('/')
    sys.path[:] = ['', '.frozen', '/lib']
_mount()
del _mount
micropython.kbd_intr(3)
def _run(name):
    try:
        os.stat(name)
    except OSError:
        return
    try:
        exec(open(name).read(), globals())
    except BaseException as e:
        sys.print_exception(e)
_run('boot.py')
if {run_main!r}:
    _run('main.py')
del _run
"""




def boot_code(*, root: str, image: str, blocks: int, run_main: bool) -> str:
    """The `-c` program for one boot (image "" = the host directory `root`)."""
    return _BOOT.format(root=root, image=image, bs=BLOCK_SIZE, blocks=blocks, run_main=run_main)
