"""Reading attnseq's own source for the structure tests (layering, registry)."""

import ast


def docstring_ids(tree: ast.AST) -> set[int]:
    """ids of the docstring constants of `tree` (they may mention module or option names without using them)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found
