; `op.create_index(<name>, <table>, ...)` without `postgresql_concurrently=True`,
; on a table this migration did not create (scope: upgrade)
((call
   function: (attribute attribute: (identifier) @_method)
   arguments: (argument_list . (_) @index . (_) @table)) @call
 (#eq? @_method "create_index")
 (#is-op? @call)
 (#not-kwarg-eq? @call "postgresql_concurrently" "True")
 (#not-new-table? @table))
