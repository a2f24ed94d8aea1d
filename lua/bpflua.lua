-- require("bpflua") returns the BPF class: local b = BPF{text = src}
return require("bpflua.bpf")
