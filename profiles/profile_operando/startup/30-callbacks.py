"""Callbacks: `bec` (BestEffortCallback: tables, and plots where a display exists), progress bars
for moves and stacks (interactive sessions only). `callbacks()` lists what is subscribed;
`RE.unsubscribe(token)` detaches one. Live analysis, one line (docs/analysis.md):

    token = RE.subscribe(ConfocalAnalysis(writer.sink(derived)))
"""
import os

from bluesky.callbacks.best_effort import BestEffortCallback

from operando.analysis.live import ConfocalAnalysis  # noqa: F401
from operando.analysis.widefield_live import WidefieldAnalysis  # noqa: F401
from operando.engine.subscriptions import subscriptions

bec = BestEffortCallback()
if is_re_worker_active() or not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    bec.disable_plots()
else:
    try:
        get_ipython().run_line_magic("matplotlib", "")      # a GUI backend, so live plots update
        import matplotlib

        if not matplotlib.get_backend().lower().startswith(("qt", "tk", "gtk", "wx", "macosx")):
            raise RuntimeError(f"no GUI toolkit for matplotlib (backend {matplotlib.get_backend()})")
    except Exception as exc:                                 # no Tk/Qt here: tables only
        print(f"live plots off ({exc}); bec prints tables")
        bec.disable_plots()
RE.subscribe(bec)
if instrument.publish_to:                # `proxy: publish: true` in the instrument file (docs/deployment.md)
    from operando.engine.doc_bus import publisher

    RE.subscribe(publisher(*instrument.publish_to))
if not is_re_worker_active():
    from bluesky.utils import ProgressBarManager

    from operando.engine.progress import StackProgress

    RE.waiting_hook = ProgressBarManager()
    RE.subscribe(StackProgress())


def callbacks():
    """Print the RunEngine's subscriptions: token, documents, callback."""
    for row in subscriptions(RE):
        print(row)
