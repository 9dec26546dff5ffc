"""Ten paragraphs of the kinds users translate (report, mail, review, manual step...), for the model card.

Written for this project (not taken from any corpus), so they are out of the training data by construction.
The first is the business paragraph a user tried first; `translate_samples` runs them through the app's own
paragraph path, so the card shows what a user gets.
"""
from __future__ import annotations

SAMPLES: list[tuple[str, str]] = [
    ("report", "The quarterly report shows that revenue grew by twelve percent, driven mainly by strong demand in "
               "Europe. However, the company warned that rising energy costs could reduce margins in the second half "
               "of the year."),
    ("mail", "Hello Anna, thank you for your quick reply. Could you send me the updated contract before Friday? "
             "I would like to review it with our lawyer next week."),
    ("review", "The hotel was clean and the staff were friendly, but the room was much smaller than in the photos. "
               "Breakfast was good value for money."),
    ("manual step", "To change the page margins, open the Format menu and choose Page Style. Enter the new values "
                    "on the Page tab, then click OK."),
    ("support reply", "We are sorry that your order arrived late. A replacement has been sent today and should reach "
                      "you within three working days."),
    ("meeting notes", "The team agreed to postpone the launch until the tests are complete. Each department will "
                      "present its budget at the next meeting."),
    ("manual warning", "Do not remove the battery while the device is switched on. Save your work before you "
                       "update the software."),
    ("news", "The city council approved a new plan to build more cycle paths. Work will begin in the spring and "
             "should last two years."),
    ("product text", "This lightweight laptop has a bright screen, a long battery life and a comfortable keyboard. "
                     "It is ideal for students and travellers."),
    ("policy", "Employees may work from home two days a week. Requests must be approved by their manager in "
               "advance."),
]


def translate_samples(translator, lang: str, *, beam: int = 4) -> list[dict]:
    """[{kind, en, lang, text}] translated by `Translator.translate_texts`, the path the app's document
    translation takes (sentence segmentation, one length-sorted batch, protected spans copied through)."""
    results = translator.translate_texts([text for _, text in SAMPLES], beam=beam, target_lang=lang)
    return [{"kind": kind, "en": text, "lang": lang, "text": r.text} for (kind, text), r in zip(SAMPLES, results)]
