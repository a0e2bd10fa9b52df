# troupe's gdb helper: lists every fiber of every live troupe runtime, with
# its state and, for a suspended fiber, its stack.
#
#   (gdb) source scripts/troupe-gdb.py
#   (gdb) troupe-fibers            every fiber, one line each
#   (gdb) troupe-fibers bt         and the stack of each suspended fiber
#   (gdb) troupe-fibers bt 7       only fiber 7's stack
#
# It walks troupe::detail::live_schedulers (runtime/src/scheduler.hpp) and
# each scheduler's fiber registry, so the program needs debug information
# (the debug, asan and tsan presets have it). States: "running" (on a worker
# thread now: see `info threads`), "blocked" (waiting in a troupe primitive:
# mutex, semaphore, future, ask...), "suspended" (ready to run, yielded, or
# an idle runner in the pool). Stacks of suspended fibers are read from the
# registers Boost.Context saved (x86-64 System V layout) by pointing the
# current frame's registers at them for one `bt` and putting them back, so
# they need a live process; on a core file only the list is shown.

import gdb

# Boost.Context's jump_fcontext (x86_64 SysV) saves, from the fcontext
# pointer up: mxcsr/x87 control word, r12, r13, r14, r15, rbx, rbp, then the
# return address; the fiber's stack pointer is just above that.
_RBP_OFFSET = 0x30
_RIP_OFFSET = 0x38
_RSP_OFFSET = 0x40


def _fibers():
    """Yields (scheduler address, fiber value) for every registered fiber."""
    listing = gdb.parse_and_eval("troupe::detail::live_schedulers")
    while int(listing) != 0:
        sched = listing["self"]
        fiber = sched["registry_head_"]
        while int(fiber) != 0:
            yield int(sched), fiber
            fiber = fiber["registry_next"]
        listing = listing["next"]


def _state(fiber):
    fctx = int(fiber["ctx"]["suspended_"])
    if fctx == 0:
        return "running", 0
    if int(fiber["blocked_on"]) != 0:
        return "blocked", fctx
    return "suspended", fctx


def _label(fiber):
    label = fiber["saved_label"]
    if int(label) == 0:
        return ""
    try:
        return label.string()
    except gdb.error:
        return ""


def _backtrace(fctx, limit):
    inferior = gdb.selected_inferior()
    read = lambda off: int.from_bytes(bytes(inferior.read_memory(fctx + off, 8)), "little")
    gdb.execute("frame 0", to_string=True)
    saved = {r: int(gdb.parse_and_eval("$" + r)) for r in ("rsp", "rbp", "rip")}
    try:
        gdb.execute("set $rbp = %d" % read(_RBP_OFFSET))
        gdb.execute("set $rip = %d" % read(_RIP_OFFSET))
        gdb.execute("set $rsp = %d" % (fctx + _RSP_OFFSET))
        return gdb.execute("bt %d" % limit, to_string=True)
    finally:
        for r, v in saved.items():
            gdb.execute("set $%s = %d" % (r, v))


class TroupeFibers(gdb.Command):
    """List troupe's fibers: troupe-fibers [bt [ID]]."""

    def __init__(self):
        super().__init__("troupe-fibers", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        args = arg.split()
        want_bt = bool(args) and args[0] == "bt"
        only = int(args[1]) if want_bt and len(args) > 1 else None
        live = gdb.selected_inferior().pid != 0
        count = {"running": 0, "blocked": 0, "suspended": 0}
        for sched, fiber in _fibers():
            fid = int(fiber["id"])
            if only is not None and fid != only:
                continue
            state, fctx = _state(fiber)
            count[state] += 1
            label = _label(fiber)
            print("fiber %-4d %-9s runtime 0x%x%s" % (fid, state, sched, ("  in " + label) if label else ""))
            if want_bt and fctx != 0:
                if live:
                    print(_backtrace(fctx, 20), end="")
                else:
                    print("  (no stack: needs a live process)")
        print("troupe-fibers: %d running, %d blocked, %d suspended" %
              (count["running"], count["blocked"], count["suspended"]))


TroupeFibers()
