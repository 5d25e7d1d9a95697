/// Reference codecs of this group, registered in ReferenceCodecs.
let kQuantCodecs: [any GGMLDequantizer.Type] = []
