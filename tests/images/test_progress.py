import io

from pybox.images.progress import Progress, Terminal


class FakeTty(io.StringIO):
    def isatty(self):
        return True


def test_quiet_when_not_a_terminal():
    assert type(Progress.for_stream(io.StringIO())) is Progress


def test_one_line_per_layer_on_a_terminal():
    out = FakeTty()
    progress = Progress.for_stream(out)
    assert isinstance(progress, Terminal)
    progress.start("sha256:" + "a" * 64, 2_000_000)
    progress.advance("sha256:" + "a" * 64, 1_000_000)
    progress.finish("sha256:" + "b" * 64, "Already exists")
    progress.finish("sha256:" + "a" * 64, "Pull complete")
    text = out.getvalue()
    assert "aaaaaaaaaaaa: Downloading [" in text and "1.0/2.0 MB" in text
    assert "bbbbbbbbbbbb: Already exists" in text and "aaaaaaaaaaaa: Pull complete" in text
