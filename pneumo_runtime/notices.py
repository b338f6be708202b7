"""Words that must appear wherever a pneumo model or its output is shown. Defined once, here;
exports copy them into the model contract, and every screen reads them from there."""

DISCLAIMER = (
    "Not a diagnostic device. pneumo offers a second opinion for research and education; "
    "a qualified clinician must review every image and makes every clinical decision."
)

INTENDED_USE = (
    "Second-opinion flagging of pneumonia on frontal chest X-rays of children aged 1-5, reviewed by "
    "a clinician. Trained on one hospital's pediatric data: not validated for adults, other sites, "
    "other equipment, lateral views or other diseases."
)

DATA_CITATION = (
    "Kermany D, Zhang K, Goldbaum M. Labeled Optical Coherence Tomography (OCT) and Chest X-Ray "
    "Images for Classification. Mendeley Data v2 (2018), doi:10.17632/rscbjbr9sj.2; "
    "Cell 172(5):1122-1131. Licence CC BY 4.0."
)
