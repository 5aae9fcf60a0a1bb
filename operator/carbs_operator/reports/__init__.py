"""What a person sees of a study in a terminal or an image: rich tables and matplotlib
plots, drawn from study_view. Kept apart from the pure logic so the operator's process
never loads rich or matplotlib."""
