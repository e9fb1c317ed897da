"""What people read: pages, workbooks and reports rendered from facts the rooms above hand over."""
