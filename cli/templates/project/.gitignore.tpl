node_modules/
.cairn/
