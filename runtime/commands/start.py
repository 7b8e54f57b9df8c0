"""pybox start ID (runc's: run the created container's process)

docker's form: pybox start CONTAINER... starts stopped containers again, detached.
"""

from pybox.args import Parser

parser = Parser("start", [], positionals=["id"], usage="start <container-id>")
docker_parser = Parser("start", ["--attach -a", "--interactive -i"], rest="containers",
                       usage="start CONTAINER...")


def main(g, argv):
    from pybox.engine.dispatch import is_docker_ref, words_of
    words = words_of(argv)
    if len(words) != 1 or is_docker_ref(g.root, words[0]) or len(argv) != 1:
        return docker_start(g, argv)
    from pybox.runtime.container import start
    _, v = parser.parse(argv)
    start(g.root, v["id"])
    return 0


def docker_start(g, argv):
    from pybox.engine.each import for_each
    from pybox.engine.lifecycle import start_again
    _, v = docker_parser.parse(argv)
    return for_each(v["containers"], lambda store, box: start_again(g.root, store, box), "start")
