"""Council spend beyond the reader: suppliers resolved to organisations (``resolve``) and the
whole-place view of every body's payments (``place``)."""
