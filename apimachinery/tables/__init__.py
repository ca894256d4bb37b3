"""``get``'s tables: the columns per kind (:mod:`.columns`) and their cells (:mod:`.cells`),
shared by the apiserver's Table answers and pykubectl's own printing."""

from apimachinery.tables.columns import TABLES, Cell, Column, TableSpec, cell_text, row_cells, table_spec

__all__ = ["TABLES", "Cell", "Column", "TableSpec", "cell_text", "row_cells", "table_spec"]
