"""Google-style docstring reading."""

from layercfg.schema_builder import docstrings

DOC = """Just your regular layer.

    More text here.

    Args:
        units: Positive integer, dimensionality
            of the output space.
        activation (str): Activation function to use.

            Still the activation.
        **kwargs: Base layer keyword arguments.

    Input shape:
        N-D tensor.
    """


def test_summary_and_args():
    doc = docstrings.parse(DOC)
    assert doc.summary == "Just your regular layer."
    assert doc.args["units"] == "Positive integer, dimensionality of the output space."
    assert doc.args["activation"].startswith("Activation function to use.")
    assert "Still the activation." in doc.args["activation"]
    assert "kwargs" in doc.args
    assert "N-D tensor." not in " ".join(doc.args.values())


def test_sections_after_args_end_it():
    doc = docstrings.parse("Sum.\n\nArgs:\n    a: first.\nReturns:\n    b: not an arg.\n")
    assert doc.args == {"a": "first."}


def test_forgiving_on_odd_input():
    assert docstrings.parse(None).args == {}
    assert docstrings.parse("").summary == ""
    odd = docstrings.parse("Args:\n\n  : nothing\n   x\nArgs:")
    assert isinstance(odd.args, dict)
