; `op.create_index(..., postgresql_concurrently=True)` (or `drop_index`) not inside
; `with op.get_context().autocommit_block():` (scope: upgrade)
((call
   function: (attribute attribute: (identifier) @method)) @call
 (#any-of? @method "create_index" "drop_index")
 (#is-op? @call)
 (#kwarg-eq? @call "postgresql_concurrently" "True")
 (#not-inside-with? @call "autocommit_block"))
