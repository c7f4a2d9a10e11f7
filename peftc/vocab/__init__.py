"""peftc's vocabulary: the facts the schema, compiler, rules and runtime share, each spelled
once. Torch-free."""
