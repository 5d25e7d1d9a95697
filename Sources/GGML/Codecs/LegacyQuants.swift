/// Reference codecs of this group, registered in ReferenceCodecs.
let legacyQuantCodecs: [any GGMLDequantizer.Type] = []
