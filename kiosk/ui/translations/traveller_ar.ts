<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="ar">
<context>
    <name>Traveller</name>
    <message>
        <source>Call an officer</source>
        <translation>استدعاء موظف</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>إلغاء</translation>
    </message>
    <message>
        <source>Welcome</source>
        <translation>مرحبًا</translation>
    </message>
    <message>
        <source>Choose your language, then touch Start.</source>
        <translation>اختر لغتك ثم المس «ابدأ».</translation>
    </message>
    <message>
        <source>Start</source>
        <translation>ابدأ</translation>
    </message>
    <message>
        <source>Who can use this gate</source>
        <translation>من يمكنه استخدام هذه البوابة</translation>
    </message>
    <message>
        <source>An electronic passport</source>
        <translation>جواز سفر إلكتروني</translation>
    </message>
    <message>
        <source>An electronic identity card</source>
        <translation>بطاقة هوية إلكترونية</translation>
    </message>
    <message>
        <source>Aged %1 or over</source>
        <translation>العمر %1 سنة أو أكثر</translation>
    </message>
    <message>
        <source>At least %1 cm tall</source>
        <translation>الطول %1 سم على الأقل</translation>
    </message>
    <message>
        <source>I can use this gate</source>
        <translation>يمكنني استخدام هذه البوابة</translation>
    </message>
    <message>
        <source>Place your document</source>
        <translation>ضع وثيقتك</translation>
    </message>
    <message>
        <source>Place your document again</source>
        <translation>ضع وثيقتك مرة أخرى</translation>
    </message>
    <message>
        <source>Open it at the photo page and lay it face down on the reader.</source>
        <translation>افتحها على صفحة الصورة وضعها على القارئ ووجهها إلى الأسفل.</translation>
    </message>
    <message>
        <source>Look at the camera</source>
        <translation>انظر إلى الكاميرا</translation>
    </message>
    <message>
        <source>Please walk through</source>
        <translation>تفضل بالمرور</translation>
    </message>
    <message>
        <source>Please go to the officer</source>
        <translation>يرجى التوجه إلى الموظف</translation>
    </message>
    <message>
        <source>Do you need more time?</source>
        <translation>هل تحتاج إلى مزيد من الوقت؟</translation>
    </message>
    <message>
        <source>Touch More time to continue.</source>
        <translation>المس «مزيد من الوقت» للمتابعة.</translation>
    </message>
    <message>
        <source>More time</source>
        <translation>مزيد من الوقت</translation>
    </message>
    <message>
        <source>This gate is closed</source>
        <translation>هذه البوابة مغلقة</translation>
    </message>
    <message>
        <source>Please use another gate or go to the officer.</source>
        <translation>يرجى استخدام بوابة أخرى أو التوجه إلى الموظف.</translation>
    </message>
</context>
</TS>
