; `op.add_column(<table>, sa.Column(<name>, ..., nullable=False))` without
; `server_default=` (scope: upgrade)
((call
   function: (attribute attribute: (identifier) @_method)
   arguments: (argument_list
     (call
       function: [
         (attribute attribute: (identifier) @_column)
         (identifier) @_column
       ]
       arguments: (argument_list . (_) @column)) @definition)) @call
 (#eq? @_method "add_column")
 (#eq? @_column "Column")
 (#is-op? @call)
 (#kwarg-eq? @definition "nullable" "False")
 (#not-has-kwarg? @definition "server_default"))
