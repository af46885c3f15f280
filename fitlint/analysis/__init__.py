"""What the rules know about a module, one owner per question (rules read them through
``RuleContext``): ``index`` (the walk), ``names`` (canonical names), ``bindings`` (what a name
refers to), ``positions`` (where a node is), ``layers`` (what a layer is), ``models`` (is it a
Keras model, its stacks, compile, inputs), ``optimizers`` (learning rates), ``losses`` (which
cross-entropy a loss computes), ``dataflow`` (data facts, from ``sources``, ``provenance`` and
``splits``)."""
