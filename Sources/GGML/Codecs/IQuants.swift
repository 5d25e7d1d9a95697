/// Reference codecs of this group, registered in ReferenceCodecs.
let iQuantCodecs: [any GGMLDequantizer.Type] = []
