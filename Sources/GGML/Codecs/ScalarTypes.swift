/// Reference codecs of this group, registered in ReferenceCodecs.
let scalarCodecs: [any GGMLDequantizer.Type] = []
